"""What every operator of this provider shares: the lazily built hook, one error boundary,
bucket/key resolution through the hook, the owner identity of a task, and asset events."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from oss_provider._compat import AirflowFailException, BaseOperator
from oss_provider.client.models import CompletedObject
from oss_provider.operators._args import as_key
from oss_provider.operators._copying import RuntimeStateNotCopied
from oss_provider.templated import as_str

if TYPE_CHECKING:
    from oss_provider._compat import Context
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

DEFAULT_CONN_ID = "oss_multipart_default"


def oss_asset(bucket: str, key: str) -> Any:
    """The Airflow Asset for an object, ``oss://bucket/<key>``: put it in an upload task's
    ``outlets`` and schedule downstream DAGs on it; the upload attaches ETag, size and CRC-64
    to the asset event. The key is percent-encoded (:func:`oss_provider.lineage.asset_uri`), so
    ``#``, ``?``, ``%``, spaces and non-ASCII survive Airflow's URI normalisation; plain keys
    are unchanged."""
    from oss_provider.lineage import create_asset

    return create_asset(bucket=bucket, key=key)


class OSSBaseOperator(RuntimeStateNotCopied, BaseOperator):
    """The connection and the hook, built lazily (nothing is read at DAG parse time).

    Every OSS call goes through :attr:`hook`, which turns client errors into Airflow's
    (retryable -> ``AirflowException``, permanent -> ``AirflowFailException``). Here only bad
    operator arguments are caught: a retry would render the same value, so they fail at once.
    """

    ui_color = "#ff6a00"

    def __init__(self, *, oss_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oss_conn_id = oss_conn_id

    @cached_property
    def hook(self) -> OSSMultipartHook:
        from oss_provider.hooks.oss_multipart import OSSMultipartHook

        source_conn_id = getattr(self, "source_conn_id", None)
        return OSSMultipartHook(
            oss_conn_id=self.oss_conn_id,
            source_conn_id=as_str("source_conn_id", source_conn_id, required=False),
        )

    def execute(self, context: Context) -> Any:
        try:
            return self.run_step(context)
        except (ValueError, TypeError) as error:  # argument coercion: the message names it
            raise AirflowFailException(f"{self.task_id}: {error}") from error

    def run_step(self, context: Context) -> Any:
        raise NotImplementedError


def task_owner(context: Any) -> str | None:
    """``dag_id/run_id/task_id/map_index``: the same on every try of one task instance (any
    worker, after a SIGKILL), different for another DAG run writing the same key."""
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return None
    parts = [getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id", "map_index")]
    if None in parts[:3]:
        return None
    return "/".join(str(p) for p in parts)


def completed_dict(done: CompletedObject) -> dict[str, Any]:
    return {
        "bucket": done.bucket,
        "key": done.key,
        "etag": done.etag,
        "size": done.size,
        "crc64": done.crc64,
    }


class OSSObjectOperator(OSSBaseOperator):
    """Bucket and key handling shared by the operators that write an object.

    ``key`` may also be a full ``oss://bucket/key`` URL; with ``bucket_name`` too, the two
    must name the same bucket (the hook's rule, the same for every operator).
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
        """``(bucket, key)`` after rendering, resolved by the hook."""
        bucket = as_str("bucket_name", self.bucket_name, required=False)
        return self.hook.resolve_target(as_key(self.key), bucket or None)

    def _upload_id(self) -> str:
        upload_id = as_str("upload_id", getattr(self, "upload_id", None), required=False)
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
        from oss_provider._compat import AssetAlias  # DatasetAlias on Airflow 2

        # the same function builds the outlet's URI (oss_asset) and this one, so they match
        asset = oss_asset(result["bucket"], result["key"])
        extra = {k: result[k] for k in ("etag", "size", "crc64")}
        for outlet in outlets:
            if getattr(outlet, "uri", None) == asset.uri:
                events[outlet].extra = extra
            elif isinstance(outlet, AssetAlias):
                events[outlet].add(asset, extra=extra)
