"""Asset URIs and OpenLineage names of objects whose keys hold ``#``, ``?``, ``%``, spaces or
non-ASCII: the asset URI percent-encodes the key (Airflow drops fragments and rewrites queries),
the OpenLineage converter decodes it, and an upload publishes its event on that exact asset.
"""

from __future__ import annotations

import pytest

from oss_provider._compat import AIRFLOW_V_3_0_PLUS, Asset, AssetAlias
from oss_provider.lineage import convert_asset_to_openlineage, create_asset
from oss_provider.operators.base import oss_asset
from oss_provider.operators.upload import OSSMultipartUploadOperator

pytestmark = pytest.mark.timeout(60)

HOSTILE_KEYS = ["dir/a#1.csv", "q?x=1.csv", "100%.csv", "a b.csv", "数据/ü.csv"]
PLAIN_KEYS = ["plain/key.csv", "year=2026/month=01/part-0.csv", "a-b_c.d~e/f+g@h:i,j!.csv"]


@pytest.mark.parametrize("key", HOSTILE_KEYS + PLAIN_KEYS + ["dir/", "a%20b.csv", "x y/"])
def test_the_openlineage_name_is_the_exact_key(key):
    dataset = convert_asset_to_openlineage(oss_asset("b", key))
    assert (dataset.namespace, dataset.name) == ("oss://b", key)


@pytest.mark.parametrize("key", HOSTILE_KEYS + PLAIN_KEYS + ["dir/"])
def test_the_asset_uri_survives_airflow_normalisation(key):
    asset = oss_asset("b", key)
    assert Asset(asset.uri).uri == asset.uri  # a hand-written copy of the URI is the same asset
    assert asset.uri.isascii()  # Airflow 2 (and MySQL on 3) refuse non-ASCII URIs
    assert "#" not in asset.uri and "?" not in asset.uri
    assert create_asset(bucket="b", key=key).uri == asset.uri


def test_one_function_spells_every_asset_uri():
    from oss_provider.lineage import asset_target, asset_uri

    for key in [*HOSTILE_KEYS, *PLAIN_KEYS, "dir/", ""]:
        assert (
            oss_asset("B", key).uri == asset_uri("B", key) == create_asset(bucket="B", key=key).uri
        )
        assert asset_target(asset_uri("B", key)) == ("b", key)
    assert asset_uri("b", "dir/a#1.csv") == "oss://b/dir/a%231.csv"


def test_different_keys_never_share_a_uri():
    keys = [*HOSTILE_KEYS, "dir/a", "dir/a#2.csv", "q", "100%25.csv", "a%20b.csv", "dir/", "dir"]
    uris = [oss_asset("b", key).uri for key in keys]
    assert len(set(uris)) == len(keys), dict(zip(keys, uris, strict=True))


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_plain_keys_keep_the_uri_a_user_writes_by_hand(key):
    by_hand = Asset(f"oss://b/{key}")
    assert by_hand.uri == f"oss://b/{key}" == oss_asset("b", key).uri
    if AIRFLOW_V_3_0_PLUS:
        assert by_hand.name == oss_asset("b", key).name  # the same asset on Airflow 3 too


def test_a_raw_question_mark_written_by_hand_stays_in_the_name():
    dataset = convert_asset_to_openlineage(Asset("oss://b/q?x=1.csv"))
    assert (dataset.namespace, dataset.name) == ("oss://b", "q?x=1.csv")


def test_openlineage_translates_through_the_registered_converter():
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset

    dataset = translate_airflow_asset(oss_asset("b", "dir/a#1.csv"), None)
    assert (dataset.namespace, dataset.name) == ("oss://b", "dir/a#1.csv")


def _outlet_events():
    """Airflow's own accessor of ``context["outlet_events"]``."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.context import OutletEventAccessors
    else:
        from airflow.utils.context import OutletEventAccessors
    return OutletEventAccessors()


def _alias_event_uris(accessor) -> list[str]:
    events = getattr(accessor, "asset_alias_events", None)
    if events is None:  # Airflow 2
        return [event["dest_dataset_uri"] for event in accessor.dataset_alias_events]
    return [event.dest_asset_key.uri for event in events]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_an_upload_publishes_its_event_on_the_exact_asset(
    oss_conn_env, oss_client, oss_bucket, tmp_path, key
):
    source = tmp_path / "src.bin"
    source.write_bytes(b"asset names " * 100)
    outlet, alias = oss_asset(oss_bucket, key), AssetAlias("oss-uploads")
    events = _outlet_events()
    result = OSSMultipartUploadOperator(
        task_id="upload",
        source=str(source),
        key=key,
        bucket_name=oss_bucket,
        outlets=[outlet, alias],
    ).execute({"outlet_events": events})

    assert oss_client.head_object(oss_bucket, key).size == result["size"]
    extra = {k: result[k] for k in ("etag", "size", "crc64")}
    assert events[outlet].extra == extra
    assert _alias_event_uris(events[alias]) == [outlet.uri]
    if "#" in key or "?" in key:  # before: the event of the object cut at '#' / '?'
        cut = key.split("#")[0].split("?")[0]
        assert events[oss_asset(oss_bucket, cut)].extra == {}


@pytest.mark.parametrize("key", ["dir/a#1.csv", "q?x=1.csv", "100%.csv", "a b.csv"])
def test_an_oss_url_key_is_written_exactly(oss_conn_env, oss_client, oss_bucket, key):
    """``oss://bucket/key`` is split after the bucket, not parsed as a URL: ``#`` and ``?``
    belong to the key (a URL parse wrote ``dir/a#1.csv`` to ``dir/a``)."""
    from oss_provider.client.urls import parse_oss_url
    from oss_provider.operators.upload import OSSMultipartUploadOperator

    assert parse_oss_url(f"oss://{oss_bucket}/{key}") == (oss_bucket, key)
    done = OSSMultipartUploadOperator(
        task_id="upload", source=b"exact", key=f"oss://{oss_bucket}/{key}"
    ).execute({})
    assert done["key"] == key
    assert oss_client.get_object(oss_bucket, key) == b"exact"
    assert [o["key"] for o in oss_client.list_objects(oss_bucket)] == [key]
