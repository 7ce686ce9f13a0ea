"""The ``filesystems`` entry of the provider info: Airflow calls :func:`get_fs` for ``oss://``
paths, e.g. ``ObjectStoragePath("oss://bucket/key", conn_id="oss_multipart_default")``."""

from __future__ import annotations

from typing import Any

schemes = ["oss"]


def get_fs(conn_id: str | None, storage_options: dict[str, Any] | None = None) -> Any:
    """An :class:`~oss_provider.fs.filesystem.OSSFileSystem` with the client of ``conn_id``
    (default ``oss_multipart_default``). Writes use the connection's ``part_size`` /
    ``concurrency`` extras (else 8 MiB and 8); ``storage_options`` or ``open("wb", part_size=...,
    concurrency=...)`` override them (Airflow 3.3's ObjectStoragePath passes no storage options
    here, so use the extras or ``open``)."""
    from oss_provider.fs.filesystem import OSSFileSystem
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

    hook = OSSMultipartHook(oss_conn_id=conn_id or OSSMultipartHook.default_conn_name)
    options = dict(storage_options or {})
    given = {name: options.pop(name, None) for name in ("part_size", "concurrency")}
    config = hook.transfer_inputs(None, None, given)[0]  # over the connection's extras
    return OSSFileSystem(hook.get_client(), config=config, **options)
