"""The whole upload in one task: parallel verified parts inside, resumable by its own task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

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
    OSSObjectOperator,
    completed_dict,
    task_owner,
)
from oss_provider.templated import as_bool, as_int

if TYPE_CHECKING:
    from oss_provider._compat import Context


class OSSMultipartUploadOperator(OSSOpenLineageMixin, OSSObjectOperator):
    """The whole upload in one task: parallel parts inside, verified, resumable.

    A retried task (on any worker, after a SIGKILL) finds the upload its task instance started
    (its owner record names ``dag_id/run_id/task_id/map_index`` and the options), keeps the
    parts whose size and CRC-64 match the source, and sends only the rest; another DAG run
    writing the same key never touches it. Returns
    ``{"bucket", "key", "etag", "size", "crc64"}``; put :func:`oss_asset` in ``outlets`` to
    emit an asset event.

    :param source: path, ``file://`` / fsspec URL, ``ObjectStoragePath``, ``oss://bucket/key``
        (server-side copy) (templated)
    :param part_size: bytes per part; default 8 MiB, grown to fit 10,000 parts (templated)
    :param multipart_threshold: sources below this many bytes go up in one PUT; default one part
        size, ``0`` always multipart (templated)
    :param concurrency: parts in flight; memory <= concurrency x part size (templated)
    :param resume: continue this task instance's own in-progress upload (templated)
    :param content_type: the object's Content-Type; a copy from ``oss://`` keeps the source's
        unless given (templated)
    :param metadata: ``x-oss-meta-*`` user metadata; a copy keeps the source's unless given
        (templated)
    :param source_conn_id: an Airflow connection to read an ``s3://``, ``gs://``, ``sftp://`` or
        ``https://`` source with (through ``ObjectStoragePath``) (templated)
    :param forbid_overwrite: refuse to replace an existing object (S3's ``replace=False``); the
        task fails with ``FileAlreadyExists`` and nothing is replaced (templated)

    The other object options (storage class, encryption, tags, cache control, ...) are keyword
    arguments too, each templated; their names and meanings are
    :class:`~oss_provider.client.options.ObjectOptions`'s fields.
    """

    template_fields: Sequence[str] = (
        "key",
        "bucket_name",
        "source",
        "source_conn_id",
        "part_size",
        "multipart_threshold",
        "concurrency",
        "resume",
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
        source: Any,
        bucket_name: str | None = None,
        part_size: int | str | None = None,
        multipart_threshold: int | str | None = None,
        concurrency: int | str | None = None,
        resume: bool | str = True,
        content_type: str | None = None,
        metadata: dict[str, str] | str | None = None,
        source_conn_id: str | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        take_object_options(self, kwargs)
        super().__init__(key=key, bucket_name=bucket_name, oss_conn_id=oss_conn_id, **kwargs)
        self.source = source
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.concurrency = concurrency
        self.resume = resume
        self.content_type = content_type
        self.metadata = metadata
        self.source_conn_id = source_conn_id

    def run_step(self, context: Context) -> dict[str, Any]:
        bucket, key = self._target()
        source = source_arg(self.source)
        done = self.hook.upload_file(
            source,
            key,
            bucket,
            part_size=as_int("part_size", self.part_size, minimum=1),
            multipart_threshold=as_int("multipart_threshold", self.multipart_threshold),
            concurrency=as_int("concurrency", self.concurrency, minimum=1),
            resume=as_bool("resume", self.resume),
            options=as_object_options(self),
            owner=task_owner(context),
        )
        result = completed_dict(done)
        self._publish_asset(context, result)
        return result


__all__ = ["OSSMultipartUploadOperator"]
