"""Multipart upload operators: one per step (initiate, plan, upload a batch of parts, complete,
abort) for uploads spread over many workers with dynamic task mapping, plus the whole upload in
one task.

Every argument that XCom or Jinja may feed is a template field; every ``execute`` returns
JSON-able XCom. Parts travel as ``{"part_number", "etag", "size", "crc64"}`` dicts. The bytes
work happens in :mod:`oss_provider.transfer.upload`; these classes only turn (possibly rendered)
arguments into validated values, call it with the hook's client, and shape the result.

A typical mapped upload::

    init = OSSInitiateMultipartUploadOperator(task_id="initiate", key="data/big.bin")
    plan = OSSPlanMultipartUploadOperator(task_id="plan", source="s3://src/big.bin")
    parts = OSSUploadPartsOperator.partial(
        task_id="upload_parts", key="data/big.bin", source="s3://src/big.bin",
        upload_id=init.output["upload_id"],
    ).expand(batch=plan.output)
    done = OSSCompleteMultipartUploadOperator(
        task_id="complete", key="data/big.bin", upload_id=init.output["upload_id"],
        parts=parts.output,
    )
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from oss_provider._compat import AirflowFailException
from oss_provider.client.limits import MAX_PARTS, MIN_PART_SIZE
from oss_provider.client.models import UploadedPart
from oss_provider.hooks.oss_multipart import OSSHookError
from oss_provider.lineage import OSSOpenLineageMixin
from oss_provider.operators._args import (
    OBJECT_OPTIONS,
    as_object_options,
    source_arg,
    take_object_options,
    with_object_options,
)
from oss_provider.operators.base import (
    DEFAULT_CONN_ID,
    OSSBaseOperator,
    OSSObjectOperator,
    completed_dict,
    oss_asset,
    task_owner,
)
from oss_provider.operators.upload import OSSMultipartUploadOperator
from oss_provider.templated import as_bool, as_int, as_json, as_str, is_none
from oss_provider.transfer import upload as transfer
from oss_provider.transfer.ownership import data_part_numbers

if TYPE_CHECKING:
    from oss_provider._compat import Context


# --------------------------------------------------------------------------- initiate


class OSSInitiateMultipartUploadOperator(OSSObjectOperator):
    """Start a multipart upload; returns ``{"bucket", "key", "upload_id"}``.

    Pushed with ``multiple_outputs=True`` by default, so ``op.output["upload_id"]`` works.

    :param key: object key or ``oss://bucket/key`` (templated)
    :param bucket_name: bucket; default the connection's (templated)
    :param content_type: the object's Content-Type (templated)
    :param metadata: ``x-oss-meta-*`` user metadata (templated)
    :param oss_conn_id: Airflow connection of type ``oss_multipart`` (templated)
    :param forbid_overwrite: refuse to replace an existing object (S3's ``replace=False``); the
        task fails with ``FileAlreadyExists`` and nothing is replaced (templated)

    The other object options (storage class, encryption, tags, cache control, ...) are keyword
    arguments too, each templated; their names and meanings are
    :class:`~oss_provider.client.options.ObjectOptions`'s fields.
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "content_type",
        "metadata",
        "oss_conn_id",
        *OBJECT_OPTIONS,
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"metadata": "json", "tagging": "json"}

    @with_object_options
    def __init__(
        self,
        *,
        key: str,
        bucket_name: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        take_object_options(self, kwargs)
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.content_type = content_type
        self.metadata = metadata

    def run_step(self, context: Context) -> dict[str, str]:
        bucket, key = self._target()
        # the task instance owns the upload: a retried try (after a lost answer, a SIGKILL)
        # takes the one its earlier try started instead of leaving it orphaned beside a new one
        owner = task_owner(context) or f"untracked/{uuid.uuid4()}"
        upload_id = self.hook.open_owned_upload(key, bucket, as_object_options(self), owner=owner)
        self.log.info("Multipart upload %s of oss://%s/%s", upload_id, bucket, key)
        return {"bucket": bucket, "key": key, "upload_id": upload_id}


# --------------------------------------------------------------------------- plan


class OSSPlanMultipartUploadOperator(OSSBaseOperator):
    """Split an upload into at most ``max_batches`` batches of consecutive parts, for
    ``OSSUploadPartsOperator.partial(...).expand(batch=plan.output)``.

    Returns a list of ``{"batch", "first_part", "last_part", "part_size", "total_size",
    "total_parts", "fingerprint"}`` dicts. With the default ``max_batches`` of 1024 (Airflow's
    default ``max_map_length``) a 10,000-part upload maps into at most 1024 tasks.

    :param source: path, ``file://`` / fsspec URL, or ``oss://bucket/key`` (templated)
    :param source_conn_id: an Airflow connection to read an ``s3://``, ``gs://``, ``sftp://`` or
        ``https://`` source with (through ``ObjectStoragePath``) (templated)
    :param part_size: bytes per part; default 8 MiB, grown to fit 10,000 parts (templated)
    :param batches: how many batches (mapped tasks) to aim for; default ``max_batches``
        (templated)
    :param max_batches: upper bound on the batches, keep it <= ``[core] max_map_length``
    """

    template_fields: Sequence[str] = (
        "source",
        "source_conn_id",
        "part_size",
        "batches",
        "oss_conn_id",
    )

    def __init__(
        self,
        *,
        source: Any,
        source_conn_id: str | None = None,
        part_size: int | str | None = None,
        batches: int | str | None = None,
        max_batches: int = transfer.MAX_BATCHES,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(oss_conn_id=oss_conn_id, **kwargs)
        self.source = source
        self.source_conn_id = source_conn_id
        self.part_size = part_size
        self.batches = batches
        self.max_batches = max_batches

    def run_step(self, context: Context) -> list[dict[str, Any]]:
        source = source_arg(self.source)
        plan = self.hook.plan_upload(
            source,
            part_size=as_int("part_size", self.part_size, minimum=1),
            batches=as_int("batches", self.batches, minimum=1),
            max_batches=self.max_batches,
        )
        first = plan[0]
        self.log.info(
            "Planned %s: %d bytes in %d parts of %d bytes, %d batches of up to %d parts",
            source,
            first["total_size"],
            first["total_parts"],
            first["part_size"],
            len(plan),
            first["last_part"] - first["first_part"] + 1,
        )
        return plan


# --------------------------------------------------------------------------- upload parts


class OSSUploadPartsOperator(OSSObjectOperator):
    """Upload one batch of parts of an upload, in parallel inside the task; returns the parts.

    Say which parts with either ``batch`` (one item of the plan step's output; map over it),
    or ``first_part`` / ``last_part`` with ``part_size``, or explicit byte ranges in ``parts``
    (``[{"part_number", "offset", "size"}, ...]``). A retried task keeps the parts the server
    already has with the right size and CRC-64 and sends only the rest.

    Returns ``[{"part_number", "etag", "size", "crc64"}, ...]``.

    :param upload_id: from the initiate step (templated)
    :param source: path, fsspec URL or ``oss://bucket/key`` readable from every worker
        (templated)
    :param source_conn_id: an Airflow connection to read an ``s3://``, ``gs://``, ``sftp://`` or
        ``https://`` source with (through ``ObjectStoragePath``) (templated)
    :param batch: a plan item (templated; the usual ``.expand()`` target)
    :param concurrency: parts in flight inside the task; memory <= concurrency x part size
        (templated)
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "upload_id",
        "source",
        "source_conn_id",
        "batch",
        "first_part",
        "last_part",
        "part_size",
        "parts",
        "concurrency",
        "oss_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"batch": "json", "parts": "json"}

    def __init__(
        self,
        *,
        key: str,
        upload_id: str,
        source: Any,
        source_conn_id: str | None = None,
        bucket_name: str | None = None,
        batch: dict[str, Any] | str | None = None,
        first_part: int | str | None = None,
        last_part: int | str | None = None,
        part_size: int | str | None = None,
        parts: list[dict[str, Any]] | str | None = None,
        concurrency: int | str | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.upload_id = upload_id
        self.source = source
        self.source_conn_id = source_conn_id
        self.batch = batch
        self.first_part = first_part
        self.last_part = last_part
        self.part_size = part_size
        self.parts = parts
        self.concurrency = concurrency

    def _ranges(self, source_size: Any) -> tuple[list[dict[str, int]], dict | None]:
        """The byte ranges to upload; ``source_size`` is called only when nothing says it."""
        explicit = as_json("parts", self.parts)
        if explicit:
            if not isinstance(explicit, list):
                raise ValueError("parts must be a list of {part_number, offset, size} dicts")
            return [transfer.PartSpec.from_dict(p).to_dict() for p in explicit], None
        batch = as_json("batch", self.batch) or {}
        if not isinstance(batch, dict):
            raise TypeError(f"batch must be a dict from the plan step, got {batch!r}")
        first = as_int("first_part", batch.get("first_part", self.first_part), minimum=1)
        last = as_int("last_part", batch.get("last_part", self.last_part), minimum=1)
        part_size = as_int("part_size", batch.get("part_size", self.part_size), minimum=1)
        total = as_int("total_size", batch.get("total_size"), minimum=0)
        if first is None or part_size is None:
            raise ValueError(
                "say which parts to upload: batch=<a plan item>, or first_part/last_part with "
                "part_size, or parts=[{part_number, offset, size}, ...]"
            )
        total = source_size() if total is None else total
        if total is None:
            raise ValueError("the source's size is unknown; pass a plan item as batch")
        if last is None:
            last = first
        specs = transfer.batch_parts(first, last, part_size, total)
        return [s.to_dict() for s in specs], batch.get("fingerprint")

    def run_step(self, context: Context) -> list[dict[str, Any]]:
        bucket, key = self._target()
        upload_id = self._upload_id()
        source = source_arg(self.source)
        ranges, fingerprint = self._ranges(lambda: self.hook.source_size(source))
        self.log.info(
            "Uploading parts %d-%d of %s to upload %s of oss://%s/%s",
            ranges[0]["part_number"],
            ranges[-1]["part_number"],
            source,
            upload_id,
            bucket,
            key,
        )
        return self.hook.upload_part_batch(
            key,
            upload_id,
            source,
            ranges,
            bucket,
            concurrency=as_int("concurrency", self.concurrency, minimum=1),
            fingerprint=fingerprint,
        )


# --------------------------------------------------------------------------- complete


def _flatten_parts(parts: Any) -> list[dict[str, Any]]:
    parts = as_json("parts", parts)
    if isinstance(parts, dict):
        parts = [parts]
    return [UploadedPart.from_dict(p).to_dict() for p in transfer.iter_batch_results(parts)]


class OSSCompleteMultipartUploadOperator(OSSOpenLineageMixin, OSSObjectOperator):
    """Complete an upload; returns ``{"bucket", "key", "etag", "size", "crc64"}``.

    ``parts`` is what the mapped upload tasks returned (a lazy list of lists of part dicts), a
    flat list, or None to rebuild the list with ListParts. Either way the parts must be numbered
    1..N without gaps, and each one must match what the server stores (size and CRC-64); the
    combined CRC-64 is checked against the object's. ``expected_size`` / ``expected_parts``
    (templated) add a check against the plan. ``forbid_overwrite`` (templated) refuses to
    replace an existing object, as at Initiate.
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "upload_id",
        "parts",
        "expected_size",
        "expected_parts",
        "forbid_overwrite",
        "oss_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parts": "json"}

    def __init__(
        self,
        *,
        key: str,
        upload_id: str,
        parts: Any = None,
        bucket_name: str | None = None,
        expected_size: int | str | None = None,
        expected_parts: int | str | None = None,
        forbid_overwrite: bool | str | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.upload_id = upload_id
        self.parts = parts
        self.expected_size = expected_size
        self.expected_parts = expected_parts
        self.forbid_overwrite = forbid_overwrite

    def run_step(self, context: Context) -> dict[str, Any]:
        bucket, key = self._target()
        upload_id = self._upload_id()
        given = _flatten_parts(self.parts) if not is_none(self.parts) else []
        try:
            stored = {p.part_number: p for p in self.hook.iter_parts(key, upload_id, bucket)}
        except OSSHookError as gone:
            if gone.code != "NoSuchUpload":
                raise
            return self._completed_by_an_earlier_try(context, bucket, key, upload_id, given)
        if given:
            parts = _check_against_server(given, stored)
        else:
            sizes = {n: int(p.size or 0) for n, p in stored.items()}
            parts = [stored[n].to_uploaded_part().to_dict() for n in data_part_numbers(sizes)]
            self.log.info("Rebuilt the part list with ListParts: %d parts", len(parts))
        _check_sequence(
            parts,
            as_int("expected_size", self.expected_size),
            as_int("expected_parts", self.expected_parts, minimum=1),
        )
        forbid = (
            None
            if is_none(self.forbid_overwrite)
            else as_bool("forbid_overwrite", self.forbid_overwrite)
        )
        done = self.hook.complete_multipart_upload(
            key, upload_id, parts, bucket, forbid_overwrite=forbid
        )
        result = completed_dict(done)
        self.log.info(
            "Completed oss://%s/%s: %s bytes in %d parts, ETag %s, CRC-64 %s%s",
            bucket,
            key,
            result["size"],
            len(parts),
            result["etag"],
            result["crc64"],
            " (confirmed by HEAD after a lost answer)" if done.confirmed_by_head else "",
        )
        self._publish_asset(context, result)
        return result

    def _completed_by_an_earlier_try(
        self, context: Context, bucket: str, key: str, upload_id: str, given: list[dict]
    ) -> dict[str, Any]:
        """The upload is gone. A try killed while its Complete was applied (or whose answer was
        lost) leaves exactly that: succeed when the object at the key is provably this upload's
        (multipart ETag of the reported parts, size, CRC-64), and fail clearly otherwise."""
        where = f"oss://{bucket}/{key}"
        done = self.hook.find_completed_upload(key, given, bucket) if given else None
        if done is None:
            raise AirflowFailException(
                f"upload {upload_id} of {where} no longer exists and the object at the key is "
                + ("not this upload's (another writer completed the key, or the upload was "
                   "aborted)" if given else "unknown: no part list was passed to prove it")
                + ". Run the upload again."
            )  # fmt: skip
        result = completed_dict(done)
        self.log.info(
            "Upload %s of %s was already completed (by an earlier try): the object's multipart "
            "ETag %s, size and CRC-64 are these %d parts'",
            upload_id,
            where,
            result["etag"],
            len(given),
        )
        self._publish_asset(context, result)
        return result


def _check_against_server(
    given: list[dict[str, Any]], stored: dict[int, Any]
) -> list[dict[str, Any]]:
    """Each reported part must be stored with the same size and CRC-64 (a retry of another
    attempt may have replaced it); the server's ETag is the one Complete needs."""
    by_number: dict[int, dict[str, Any]] = {}
    for part in given:
        by_number[part["part_number"]] = part  # a retried batch reports a part again: last wins
    problems = []
    out = []
    for number in sorted(by_number):
        part = by_number[number]
        server = stored.get(number)
        if server is None:
            problems.append(f"part {number} is not on the server")
            continue
        if server.size != part["size"]:
            problems.append(f"part {number}: {server.size} bytes stored, {part['size']} reported")
        elif (
            part["crc64"] is not None and server.crc64 is not None and part["crc64"] != server.crc64
        ):
            problems.append(
                f"part {number}: CRC-64 {server.crc64} stored, {part['crc64']} reported"
            )
        out.append({**part, "etag": server.etag, "crc64": server.crc64 or part["crc64"]})
    if problems:
        shown = "; ".join(problems[:10]) + (
            f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        )
        raise AirflowFailException(
            f"the parts reported by the upload tasks do not match the server: {shown}. Re-run "
            "the upload tasks for those parts"
        )
    return out


def _check_sequence(
    parts: list[dict[str, Any]], expected_size: int | None, expected_parts: int | None
) -> None:
    if not parts:
        raise AirflowFailException("there are no parts to complete the upload with")
    numbers = [p["part_number"] for p in parts]
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if expected_parts is not None and numbers[-1] < expected_parts:
        missing += list(range(numbers[-1] + 1, expected_parts + 1))
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise AirflowFailException(
            f"parts {shown} are missing ({len(missing)} of {max(numbers[-1], expected_parts or 0)})"
            "; re-run the upload tasks that hold them"
        )
    if expected_parts is not None and numbers[-1] > expected_parts:
        raise AirflowFailException(
            f"{numbers[-1]} parts but the plan has {expected_parts}; re-plan the upload"
        )
    small = [p["part_number"] for p in parts[:-1] if p["size"] < MIN_PART_SIZE]
    if small:
        raise AirflowFailException(
            f"parts {small[:10]} are smaller than OSS's 100 KiB minimum (only the last part may "
            "be); use a larger part size"
        )
    total = sum(p["size"] for p in parts)
    if expected_size is not None and total != expected_size:
        raise AirflowFailException(
            f"the parts hold {total} bytes but the source has {expected_size}; re-plan the upload"
        )
    if numbers[-1] > MAX_PARTS:  # pragma: no cover - the server refuses such part numbers
        raise AirflowFailException(f"{numbers[-1]} parts exceed OSS's {MAX_PARTS}")


# --------------------------------------------------------------------------- abort


class OSSAbortMultipartUploadOperator(OSSObjectOperator):
    """Abort an upload and free its parts; idempotent (an upload already gone is fine).

    Meant for the failure path: ``trigger_rule="one_failed"`` downstream of the upload and
    complete tasks (make it a teardown, ``.as_teardown(setups=initiate)``, so the DAG run still
    ends failed). An empty ``upload_id`` (the initiate step failed) is nothing to abort.
    Returns ``{"bucket", "key", "upload_id", "aborted"}`` (``aborted`` False when already gone).
    """

    template_fields: Sequence[str] = ("key", "bucket_name", "upload_id", "oss_conn_id")

    def __init__(
        self,
        *,
        key: str,
        upload_id: str | None,
        bucket_name: str | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.upload_id = upload_id

    def run_step(self, context: Context) -> dict[str, Any]:
        bucket, key = self._target()
        upload_id = as_str("upload_id", self.upload_id, required=False)
        result: dict[str, Any] = {
            "bucket": bucket,
            "key": key,
            "upload_id": upload_id,
            "aborted": False,
        }
        if not upload_id:
            self.log.info("No upload id (the upload was never started): nothing to abort")
            return result
        result["aborted"] = self.hook.abort_multipart_upload(key, upload_id, bucket, confirm=True)
        self.log.info(
            "%s upload %s of oss://%s/%s",
            "Aborted" if result["aborted"] else "Nothing to abort: already gone:",
            upload_id,
            bucket,
            key,
        )
        return result


__all__ = [
    "OSSAbortMultipartUploadOperator",
    "OSSCompleteMultipartUploadOperator",
    "OSSInitiateMultipartUploadOperator",
    "OSSMultipartUploadOperator",
    "OSSPlanMultipartUploadOperator",
    "OSSUploadPartsOperator",
    "oss_asset",
]
