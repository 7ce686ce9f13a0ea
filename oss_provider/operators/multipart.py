"""Multipart upload operators: one per step (initiate, plan, upload a batch of parts, complete,
abort) for uploads spread over many workers with dynamic task mapping, plus the whole upload in
one task.

Every argument that XCom or Jinja may feed is a template field; every ``execute`` returns
JSON-able XCom. Parts travel as ``{"part_number", "etag", "size", "crc64"}`` dicts. The bytes
work happens in :mod:`oss_provider.client.transfer`; these classes only turn (possibly rendered)
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

import ast
import json
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from oss_provider._compat import AirflowException, AirflowFailException, BaseOperator
from oss_provider.client import transfer
from oss_provider.client.errors import (
    NoSuchUpload,
    OSSClientError,
    OSSError,
)
from oss_provider.client.limits import MAX_PARTS, MIN_PART_SIZE
from oss_provider.client.models import CompletedObject, UploadedPart
from oss_provider.client.urls import parse_oss_url

if TYPE_CHECKING:
    from oss_provider.client.api import OSSClient
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    try:
        from airflow.sdk import Context
    except ImportError:  # Airflow 2
        from airflow.utils.context import Context

DEFAULT_CONN_ID = "oss_multipart_default"
_NONE_TEXT = {"", "none", "null"}
# Local errors that a task retry cannot fix: fail at once instead of burning retries. Client
# errors (a changed source, a checksum mismatch, OSS codes) are sorted by ``wrap_client_error``.
_PERMANENT = (
    FileNotFoundError,
    IsADirectoryError,
    ValueError,
    TypeError,
)


# --------------------------------------------------------------------------- argument coercion
# Rendered templates are strings unless the DAG renders native objects; accept both.


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE_TEXT)


def _as_int(name: str, value: Any, *, minimum: int = 0) -> int | None:
    if _is_none(value):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip().replace("_", ""))
        except ValueError:
            number = None
    if number is None:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return number


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _as_json(name: str, value: Any) -> Any:
    """A dict/list from itself or from its rendered text (JSON or Python literal)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _is_none(text):
        return None
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(
                f"{name} must be JSON (a dict or a list), got {text[:200]!r}"
            ) from None


def _as_str(name: str, value: Any, *, required: bool = True) -> str | None:
    if _is_none(value):
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value.strip()


def oss_asset(bucket: str, key: str) -> Any:
    """The Airflow Asset for an object, ``oss://bucket/key``: put it in an upload task's
    ``outlets`` and schedule downstream DAGs on it; the upload attaches ETag, size and CRC-64
    to the asset event."""
    try:
        from airflow.sdk import Asset
    except ImportError:  # Airflow 2
        from airflow.datasets import Dataset as Asset
    return Asset(f"oss://{bucket}/{key}")


# --------------------------------------------------------------------------- base


class _OSSOperator(BaseOperator):
    """The connection and the hook, built lazily (nothing is read at DAG parse time)."""

    ui_color = "#ff6a00"

    def __init__(self, *, oss_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oss_conn_id = oss_conn_id

    @cached_property
    def hook(self) -> OSSMultipartHook:
        from oss_provider.hooks.oss_multipart import OSSMultipartHook

        return OSSMultipartHook(oss_conn_id=self.oss_conn_id)

    @property
    def client(self) -> OSSClient:
        return self.hook.get_client()

    def execute(self, context: Context) -> Any:
        """Run the step. OSS errors become Airflow errors that name the connection and keep the
        OSS code and request id; those no retry can fix (bad credentials, a missing bucket, an
        invalid part, bad arguments) fail the task at once instead of burning its retries."""
        try:
            return self.run_step(context)
        except AirflowException:
            raise
        except OSSClientError as error:
            from oss_provider.hooks.oss_multipart import wrap_client_error

            raise wrap_client_error(self.oss_conn_id, error) from error
        except _PERMANENT as error:
            raise AirflowFailException(str(error)) from error

    def run_step(self, context: Context) -> Any:
        raise NotImplementedError


class _OSSMultipartOperator(_OSSOperator):
    """Bucket and key handling shared by the operators that write an object.

    ``key`` may also be a full ``oss://bucket/key`` URL, whose bucket then wins over
    ``bucket_name`` (and over the connection's default bucket).
    """

    def __init__(
        self,
        *,
        key: str | None = None,
        bucket_name: str | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(oss_conn_id=oss_conn_id, **kwargs)
        self.key = key
        self.bucket_name = bucket_name

    def _target(self) -> tuple[str, str]:
        """``(bucket, key)`` after rendering."""
        key = _as_str("key", self.key)
        bucket = _as_str("bucket_name", self.bucket_name, required=False)
        if key.startswith("oss://"):
            bucket, key = parse_oss_url(key)
        if not key:
            raise ValueError("key is empty; name the object to upload, e.g. 'exports/data.bin'")
        return self.hook.get_bucket_name(bucket or None), key

    def _upload_id(self) -> str:
        upload_id = _as_str("upload_id", getattr(self, "upload_id", None), required=False)
        if not upload_id:
            raise ValueError(
                "upload_id is empty: pass the initiate task's output, e.g. "
                "upload_id=initiate.output['upload_id']"
            )
        return upload_id

    def _publish_asset(self, context: Context, result: dict[str, Any]) -> None:
        """Attach ETag, size and CRC-64 to the event of an ``oss://bucket/key`` outlet; an
        ``AssetAlias`` outlet gets an event for the object's asset (keys known only at run
        time)."""
        events = context.get("outlet_events") if hasattr(context, "get") else None
        outlets = getattr(self, "outlets", None) or ()
        if events is None or not outlets:
            return
        uri = f"oss://{result['bucket']}/{result['key']}"
        extra = {k: result[k] for k in ("etag", "size", "crc64")}
        for outlet in outlets:
            if getattr(outlet, "uri", None) == uri:
                events[outlet].extra = extra
            elif type(outlet).__name__ == "AssetAlias":
                events[outlet].add(oss_asset(result["bucket"], result["key"]), extra=extra)


def _completed_dict(done: CompletedObject) -> dict[str, Any]:
    return {
        "bucket": done.bucket,
        "key": done.key,
        "etag": done.etag,
        "size": done.size,
        "crc64": done.crc64,
    }


# --------------------------------------------------------------------------- initiate


class OSSInitiateMultipartUploadOperator(_OSSMultipartOperator):
    """Start a multipart upload; returns ``{"bucket", "key", "upload_id"}``.

    Pushed with ``multiple_outputs=True`` by default, so ``op.output["upload_id"]`` works.

    :param key: object key or ``oss://bucket/key`` (templated)
    :param bucket_name: bucket; default the connection's (templated)
    :param content_type: the object's Content-Type (templated)
    :param metadata: ``x-oss-meta-*`` user metadata (templated)
    :param oss_conn_id: Airflow connection of type ``oss_multipart`` (templated)
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "content_type",
        "metadata",
        "oss_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"metadata": "json"}

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
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.content_type = content_type
        self.metadata = metadata

    def run_step(self, context: Context) -> dict[str, str]:
        bucket, key = self._target()
        metadata = _as_json("metadata", self.metadata)
        upload_id = self.client.initiate_multipart_upload(
            bucket,
            key,
            content_type=_as_str("content_type", self.content_type, required=False),
            metadata=metadata or None,
        )
        self.log.info("Started multipart upload %s of oss://%s/%s", upload_id, bucket, key)
        return {"bucket": bucket, "key": key, "upload_id": upload_id}


# --------------------------------------------------------------------------- plan


class OSSPlanMultipartUploadOperator(_OSSOperator):
    """Split an upload into at most ``max_batches`` batches of consecutive parts, for
    ``OSSUploadPartsOperator.partial(...).expand(batch=plan.output)``.

    Returns a list of ``{"batch", "first_part", "last_part", "part_size", "total_size",
    "total_parts", "fingerprint"}`` dicts. With the default ``max_batches`` of 1024 (Airflow's
    default ``max_map_length``) a 10,000-part upload maps into at most 1024 tasks.

    :param source: path, ``file://`` / fsspec URL, or ``oss://bucket/key`` (templated)
    :param part_size: bytes per part; default 8 MiB, grown to fit 10,000 parts (templated)
    :param batches: how many batches (mapped tasks) to aim for; default ``max_batches``
        (templated)
    :param max_batches: upper bound on the batches, keep it <= ``[core] max_map_length``
    """

    template_fields: Sequence[str] = ("source", "part_size", "batches", "oss_conn_id")

    def __init__(
        self,
        *,
        source: Any,
        part_size: int | str | None = None,
        batches: int | str | None = None,
        max_batches: int = transfer.MAX_BATCHES,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(oss_conn_id=oss_conn_id, **kwargs)
        self.source = source
        self.part_size = part_size
        self.batches = batches
        self.max_batches = max_batches

    def run_step(self, context: Context) -> list[dict[str, Any]]:
        source = _source_arg(self.source)
        client = self.client if _needs_client(source) else None
        src = transfer.open_source(source, client=client)
        try:
            if src.size is None:
                raise ValueError(
                    f"{src.description} is a stream of unknown size and cannot be planned into "
                    "batches; use OSSMultipartUploadOperator"
                )
            plan = transfer.plan_batches(
                src.size,
                _as_int("part_size", self.part_size, minimum=1),
                batches=_as_int("batches", self.batches, minimum=1),
                max_batches=self.max_batches,
                fingerprint=src.fingerprint(),
            )
        finally:
            src.close()
        first = plan[0]
        self.log.info(
            "Planned %s: %d bytes in %d parts of %d bytes, %d batches of up to %d parts",
            src.description,
            first["total_size"],
            first["total_parts"],
            first["part_size"],
            len(plan),
            first["last_part"] - first["first_part"] + 1,
        )
        return plan


def _source_arg(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if _is_none(text):
            raise ValueError("source is required: a path, a URL or oss://bucket/key")
        return text
    if value is None:
        raise ValueError("source is required: a path, a URL or oss://bucket/key")
    return value


def _needs_client(source: Any) -> bool:
    return (isinstance(source, str) and source.startswith("oss://")) or (
        getattr(source, "protocol", None) == "oss"
    )


# --------------------------------------------------------------------------- upload parts


class OSSUploadPartsOperator(_OSSMultipartOperator):
    """Upload one batch of parts of an upload, in parallel inside the task; returns the parts.

    Say which parts with either ``batch`` (one item of the plan step's output; map over it),
    or ``first_part`` / ``last_part`` with ``part_size``, or explicit byte ranges in ``parts``
    (``[{"part_number", "offset", "size"}, ...]``). A retried task keeps the parts the server
    already has with the right size and CRC-64 and sends only the rest.

    Returns ``[{"part_number", "etag", "size", "crc64"}, ...]``.

    :param upload_id: from the initiate step (templated)
    :param source: path, fsspec URL or ``oss://bucket/key`` readable from every worker
        (templated)
    :param batch: a plan item (templated; the usual ``.expand()`` target)
    :param concurrency: parts in flight inside the task; memory <= concurrency x part size
        (templated)
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "upload_id",
        "source",
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
        self.batch = batch
        self.first_part = first_part
        self.last_part = last_part
        self.part_size = part_size
        self.parts = parts
        self.concurrency = concurrency

    def _ranges(self, source_size: int | None) -> tuple[list[dict[str, int]], dict | None]:
        explicit = _as_json("parts", self.parts)
        if explicit:
            if not isinstance(explicit, list):
                raise ValueError("parts must be a list of {part_number, offset, size} dicts")
            return [transfer.PartSpec.from_dict(p).to_dict() for p in explicit], None
        batch = _as_json("batch", self.batch) or {}
        if not isinstance(batch, dict):
            raise TypeError(f"batch must be a dict from the plan step, got {batch!r}")
        first = _as_int("first_part", batch.get("first_part", self.first_part), minimum=1)
        last = _as_int("last_part", batch.get("last_part", self.last_part), minimum=1)
        part_size = _as_int("part_size", batch.get("part_size", self.part_size), minimum=1)
        total = _as_int("total_size", batch.get("total_size"), minimum=0)
        if first is None or part_size is None:
            raise ValueError(
                "say which parts to upload: batch=<a plan item>, or first_part/last_part with "
                "part_size, or parts=[{part_number, offset, size}, ...]"
            )
        total = source_size if total is None else total
        if total is None:
            raise ValueError("the source's size is unknown; pass a plan item as batch")
        if last is None:
            last = first
        specs = transfer.batch_parts(first, last, part_size, total)
        return [s.to_dict() for s in specs], batch.get("fingerprint")

    def run_step(self, context: Context) -> list[dict[str, Any]]:
        bucket, key = self._target()
        upload_id = self._upload_id()
        source = _source_arg(self.source)
        client = self.client
        src = transfer.open_source(source, client=client)
        try:
            ranges, fingerprint = self._ranges(src.size)
            self.log.info(
                "Uploading parts %d-%d of %s to upload %s of oss://%s/%s",
                ranges[0]["part_number"],
                ranges[-1]["part_number"],
                src.description,
                upload_id,
                bucket,
                key,
            )
            return transfer.upload_part_batch(
                client,
                bucket,
                key,
                upload_id,
                src,
                ranges,
                concurrency=_as_int("concurrency", self.concurrency, minimum=1),
                fingerprint=fingerprint,
            )
        except NoSuchUpload as error:
            raise AirflowFailException(
                f"upload {upload_id} of oss://{bucket}/{key} no longer exists (aborted, "
                f"completed or expired): {error}. Re-run the DAG from the initiate task"
            ) from error
        finally:
            src.close()


# --------------------------------------------------------------------------- complete


def _flatten_parts(parts: Any) -> list[dict[str, Any]]:
    parts = _as_json("parts", parts)
    if isinstance(parts, dict):
        parts = [parts]
    return [UploadedPart.from_dict(p).to_dict() for p in transfer.iter_batch_results(parts)]


class OSSCompleteMultipartUploadOperator(_OSSMultipartOperator):
    """Complete an upload; returns ``{"bucket", "key", "etag", "size", "crc64"}``.

    ``parts`` is what the mapped upload tasks returned (a lazy list of lists of part dicts), a
    flat list, or None to rebuild the list with ListParts. Either way the parts must be numbered
    1..N without gaps, and each one must match what the server stores (size and CRC-64); the
    combined CRC-64 is checked against the object's. ``expected_size`` / ``expected_parts``
    (templated) add a check against the plan.
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "upload_id",
        "parts",
        "expected_size",
        "expected_parts",
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
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.upload_id = upload_id
        self.parts = parts
        self.expected_size = expected_size
        self.expected_parts = expected_parts

    def run_step(self, context: Context) -> dict[str, Any]:
        bucket, key = self._target()
        upload_id = self._upload_id()
        client = self.client
        try:
            stored = {p.part_number: p for p in client.iter_parts(bucket, key, upload_id)}
        except NoSuchUpload as error:
            raise AirflowFailException(
                f"upload {upload_id} of oss://{bucket}/{key} no longer exists: {error}"
            ) from error
        given = _flatten_parts(self.parts) if not _is_none(self.parts) else []
        if given:
            parts = _check_against_server(given, stored)
        else:
            parts = [stored[n].to_uploaded_part().to_dict() for n in sorted(stored)]
            self.log.info("Rebuilt the part list with ListParts: %d parts", len(parts))
        _check_sequence(
            parts,
            _as_int("expected_size", self.expected_size),
            _as_int("expected_parts", self.expected_parts, minimum=1),
        )
        done = client.complete_multipart_upload(bucket, key, upload_id, parts)
        result = _completed_dict(done)
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


class OSSAbortMultipartUploadOperator(_OSSMultipartOperator):
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
        upload_id = _as_str("upload_id", self.upload_id, required=False)
        result: dict[str, Any] = {
            "bucket": bucket,
            "key": key,
            "upload_id": upload_id,
            "aborted": False,
        }
        if not upload_id:
            self.log.info("No upload id (the upload was never started): nothing to abort")
            return result
        client = self.client
        # A part still in flight when Abort lands can re-create nothing (OSS refuses parts of
        # an aborted upload), but check: abort until ListParts says the upload is gone.
        for attempt in range(3):
            aborted = client.abort_multipart_upload(bucket, key, upload_id)
            result["aborted"] = result["aborted"] or aborted
            try:
                client.list_parts(bucket, key, upload_id, max_parts=1)
            except NoSuchUpload:
                break
            except OSSError as error:
                self.log.warning("Could not confirm the abort (%s); trying again", error)
            if attempt == 2:
                raise AirflowException(
                    f"upload {upload_id} of oss://{bucket}/{key} still exists after 3 aborts; "
                    "the cleanup operator or a lifecycle rule will remove it"
                )
        self.log.info(
            "%s upload %s of oss://%s/%s",
            "Aborted" if result["aborted"] else "Nothing to abort: already gone:",
            upload_id,
            bucket,
            key,
        )
        return result


# --------------------------------------------------------------------------- whole upload


class OSSMultipartUploadOperator(_OSSMultipartOperator):
    """The whole upload in one task: parallel parts inside, verified, resumable.

    A retried task finds the upload it started (same bucket and key), keeps the parts whose
    size and CRC-64 match the source, and sends only the rest. Returns
    ``{"bucket", "key", "etag", "size", "crc64"}``; put :func:`oss_asset` in ``outlets`` to
    emit an asset event.

    :param source: path, ``file://`` / fsspec URL, ``ObjectStoragePath``, ``oss://bucket/key``
        (server-side copy) (templated)
    :param part_size: bytes per part; default 8 MiB, grown to fit 10,000 parts (templated)
    :param concurrency: parts in flight; memory <= concurrency x part size (templated)
    :param resume: continue an in-progress upload of the same key (templated)
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "source",
        "part_size",
        "concurrency",
        "resume",
        "content_type",
        "metadata",
        "oss_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"metadata": "json"}

    def __init__(
        self,
        *,
        key: str,
        source: Any,
        bucket_name: str | None = None,
        part_size: int | str | None = None,
        concurrency: int | str | None = None,
        resume: bool | str = True,
        content_type: str | None = None,
        metadata: dict[str, str] | str | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.source = source
        self.part_size = part_size
        self.concurrency = concurrency
        self.resume = resume
        self.content_type = content_type
        self.metadata = metadata

    def run_step(self, context: Context) -> dict[str, Any]:
        bucket, key = self._target()
        source = _source_arg(self.source)
        done = transfer.upload(
            self.client,
            bucket,
            key,
            source,
            part_size=_as_int("part_size", self.part_size, minimum=1),
            concurrency=_as_int("concurrency", self.concurrency, minimum=1),
            resume=_as_bool("resume", self.resume),
            content_type=_as_str("content_type", self.content_type, required=False),
            metadata=_as_json("metadata", self.metadata) or None,
        )
        result = _completed_dict(done)
        self._publish_asset(context, result)
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
