"""Multipart operators: template fields, XCom shapes, the lazy mapped list, the 10,000-part plan,
and each step against the emulator over real HTTP (connection from ``oss_conn_env``)."""

from __future__ import annotations

import json

import pytest

from oss_provider.client.checksums import crc64
from oss_provider.client.limits import MAX_PARTS
from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.operators.multipart import (
    OSSAbortMultipartUploadOperator,
    OSSCompleteMultipartUploadOperator,
    OSSInitiateMultipartUploadOperator,
    OSSMultipartUploadOperator,
    OSSPlanMultipartUploadOperator,
    OSSUploadPartsOperator,
)

pytestmark = pytest.mark.timeout(120)

ALL = [
    OSSInitiateMultipartUploadOperator(task_id="i", key="k"),
    OSSPlanMultipartUploadOperator(task_id="p", source="/x"),
    OSSUploadPartsOperator(task_id="u", key="k", upload_id="u", source="/x"),
    OSSCompleteMultipartUploadOperator(task_id="c", key="k", upload_id="u"),
    OSSAbortMultipartUploadOperator(task_id="a", key="k", upload_id="u"),
    OSSMultipartUploadOperator(task_id="w", key="k", source="/x"),
]


@pytest.mark.parametrize("op", ALL, ids=lambda op: type(op).__name__)
def test_every_template_field_is_an_attribute_and_xcom_fed_args_are_templated(op):
    assert "oss_conn_id" in op.template_fields
    for name in (*op.template_fields, *getattr(op, "template_fields_renderers", {})):
        assert name in op.__dict__, name
    for name in ("key", "bucket_name", "upload_id", "parts", "batch", "source"):
        if name in op.__dict__:
            assert name in op.template_fields, name


def test_templates_render_params():
    op = OSSUploadPartsOperator(
        task_id="u",
        key="{{ params.key }}",
        bucket_name="{{ params.bucket }}",
        upload_id="{{ params.upload_id }}",
        source="{{ params.source }}",
        concurrency="{{ params.concurrency }}",
    )
    op.render_template_fields(
        {
            "params": {
                "key": "a/b",
                "bucket": "bk",
                "upload_id": "U1",
                "source": "/s",
                "concurrency": 3,
            }
        }
    )
    assert (op.key, op.bucket_name, op.upload_id, op.source, op.concurrency) == (
        "a/b",
        "bk",
        "U1",
        "/s",
        "3",
    )


def test_upload_parts_maps_over_batches():
    mapped = OSSUploadPartsOperator.partial(
        task_id="u", key="k", upload_id="u", source="/x"
    ).expand(batch=[{"first_part": 1, "last_part": 2, "part_size": P, "total_size": 2 * P}])
    assert mapped.task_id == "u"


@pytest.fixture
def source(make_source):
    return make_source(7 * P + 99, seed=11)


def test_plan_of_10000_parts_fits_max_map_length(tmp_path):
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.truncate(MAX_PARTS * P)  # sparse: no disk space used
    plan = OSSPlanMultipartUploadOperator(task_id="p", source=str(path), part_size=P).execute({})
    assert len(plan) <= 1024
    assert plan[-1]["last_part"] == plan[0]["total_parts"] == MAX_PARTS
    assert len(json.dumps(plan)) < 250_000


def test_split_upload_end_to_end_with_a_lazy_mapped_list(oss_conn_env, oss_client, source):
    path, data = source
    init = OSSInitiateMultipartUploadOperator(task_id="i", key="split/obj.bin").execute({})
    assert set(init) == {"bucket", "key", "upload_id"} and init["bucket"] == "test-bucket"
    plan = OSSPlanMultipartUploadOperator(
        task_id="p", source=path, part_size=str(P), batches="3"
    ).execute({})
    assert len(plan) == 3 and plan[0]["fingerprint"]["size"] == len(data)
    results = [
        OSSUploadPartsOperator(
            task_id="u", key="split/obj.bin", upload_id=init["upload_id"], source=path, batch=b
        ).execute({})
        for b in plan
    ]
    json.dumps(results)
    assert set(results[0][0]) == {"part_number", "etag", "size", "crc64"}

    class LazyXComList:  # what a mapped upstream hands its downstream
        def __iter__(self):
            return iter(results)

    done = OSSCompleteMultipartUploadOperator(
        task_id="c",
        key="oss://test-bucket/split/obj.bin",
        upload_id=init["upload_id"],
        parts=LazyXComList(),
        expected_size=len(data),
    ).execute({})
    assert done == {
        "bucket": "test-bucket",
        "key": "split/obj.bin",
        "etag": done["etag"],
        "size": len(data),
        "crc64": crc64(data),
    }
    assert oss_client.get_object("test-bucket", "split/obj.bin") == data
    gone = OSSAbortMultipartUploadOperator(
        task_id="a", key="split/obj.bin", upload_id=init["upload_id"]
    ).execute({})
    assert gone["aborted"] is False  # completed: nothing to abort, and no error


def test_complete_rebuilds_parts_with_list_parts_and_checks_them(oss_conn_env, oss_client, source):
    from oss_provider._compat import AirflowFailException

    path, data = source
    init = OSSInitiateMultipartUploadOperator(task_id="i", key="rebuilt").execute({})
    upload_id = init["upload_id"]
    parts = OSSUploadPartsOperator(
        task_id="u", key="rebuilt", upload_id=upload_id, source=path, first_part=1,
        last_part=3, part_size=P,
    ).execute({})  # fmt: skip
    complete = OSSCompleteMultipartUploadOperator(
        task_id="c", key="rebuilt", upload_id=upload_id, expected_parts=8
    )
    with pytest.raises(AirflowFailException, match=r"parts 4, 5, 6, 7, 8 are missing"):
        complete.execute({})
    wrong = [{**parts[0], "crc64": 1}]
    bad = OSSCompleteMultipartUploadOperator(
        task_id="c", key="rebuilt", upload_id=upload_id, parts=wrong
    )
    with pytest.raises(AirflowFailException, match="part 1: CRC-64"):
        bad.execute({})
    OSSUploadPartsOperator(
        task_id="u", key="rebuilt", upload_id=upload_id, source=path,
        parts=json.dumps([{"part_number": n, "offset": (n - 1) * P,
                           "size": min(P, len(data) - (n - 1) * P)} for n in range(4, 9)]),
    ).execute({})  # fmt: skip
    done = complete.execute({})
    assert done["crc64"] == crc64(data) and done["size"] == len(data)


def test_abort_is_idempotent_and_tolerates_no_upload_id(oss_conn_env, oss_client):
    init = OSSInitiateMultipartUploadOperator(task_id="i", key="to-abort").execute({})
    op = OSSAbortMultipartUploadOperator(task_id="a", key="to-abort", upload_id=init["upload_id"])
    assert op.execute({})["aborted"] is True
    assert op.execute({})["aborted"] is False
    none = OSSAbortMultipartUploadOperator(task_id="a", key="to-abort", upload_id=None)
    assert none.execute({}) == {
        "bucket": "test-bucket",
        "key": "to-abort",
        "upload_id": None,
        "aborted": False,
    }


def test_upload_parts_to_a_gone_upload_fails_without_retry(oss_conn_env, source):
    from oss_provider._compat import AirflowFailException

    path, _ = source
    op = OSSUploadPartsOperator(
        task_id="u", key="k", upload_id="NOPE", source=path, first_part=1, part_size=P
    )
    with pytest.raises(AirflowFailException, match="NoSuchUpload.*completed or aborted"):
        op.execute({})


def test_bad_arguments_fail_clearly(oss_conn_env, source):
    from oss_provider._compat import AirflowFailException

    path, _ = source
    with pytest.raises(AirflowFailException, match="part_size must be a whole number"):
        OSSPlanMultipartUploadOperator(task_id="p", source=path, part_size="8MB").execute({})
    with pytest.raises(AirflowFailException, match="source file '/nope' does not exist"):
        OSSPlanMultipartUploadOperator(task_id="p", source="/nope").execute({})
    with pytest.raises(AirflowFailException, match="source is required"):
        OSSPlanMultipartUploadOperator(task_id="p", source="None").execute({})

    with pytest.raises(AirflowFailException, match="say which parts"):
        OSSUploadPartsOperator(task_id="u", key="k", upload_id="U", source=path).execute({})


def test_oss_errors_name_the_connection_and_only_transient_ones_are_retried(
    oss_conn_env, oss_emulator
):
    from oss_provider._compat import AirflowException, AirflowFailException
    from oss_provider.hooks.oss_multipart import OSSHookError

    init = OSSInitiateMultipartUploadOperator(task_id="i", key="k", bucket_name="no-such-bkt")
    with pytest.raises(AirflowFailException, match="'oss_multipart_default'.*NoSuchBucket") as err:
        init.execute({})
    assert err.value.code == "NoSuchBucket" and err.value.request_id

    oss_emulator.fail_next(10, "503", "InitiateMultipartUpload")  # outlasts the client's retries
    with pytest.raises(AirflowException, match="SlowDown") as err:
        OSSInitiateMultipartUploadOperator(task_id="i", key="k").execute({})
    assert isinstance(err.value, OSSHookError)
    assert not isinstance(err.value, AirflowFailException)  # Airflow may retry the task
    oss_emulator.clear_faults()


def test_whole_upload_operator_resumes(oss_conn_env, oss_emulator, oss_client, source):
    from oss_provider._compat import AirflowFailException

    path, data = source

    def whole():
        return OSSMultipartUploadOperator(
            task_id="w", key="whole", source=path, concurrency="2", metadata='{"team": "data"}',
            part_size=str(P),  # multipart (below one part size it is a single PUT)
        )  # fmt: skip

    oss_emulator.fail_next(1, "InvalidArgument", "CompleteMultipartUpload")
    with pytest.raises(AirflowFailException, match="InvalidArgument"):
        whole().execute({})  # every part is stored, Complete refused: kept for a resume
    oss_emulator.reset_stats()
    done = whole().execute({})
    assert done["crc64"] == crc64(data) and done["size"] == len(data)
    assert oss_emulator.stats()["requests"].get("UploadPart", 0) == 0  # all 7 parts kept
    assert oss_client.get_object("test-bucket", "whole") == data
