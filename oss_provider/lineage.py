"""OpenLineage and Airflow assets for ``oss://``.

- ``sanitize_uri`` / ``create_asset`` / ``convert_asset_to_openlineage``: the ``asset-uris``
  entry of the provider info, so ``Asset("oss://bucket/key")`` is validated, normalised and
  reported to OpenLineage as namespace ``oss://bucket``, name ``key``.
- :class:`OSSOpenLineageMixin`: ``get_openlineage_facets_on_complete`` for the upload operators:
  the source as the input dataset, the written object as the output.

OpenLineage classes are imported only when lineage is asked for, so the provider works without
``apache-airflow-providers-openlineage``.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from urllib.parse import SplitResult

log = logging.getLogger(__name__)

SCHEME = "oss"
# OpenLineage dataset naming: one namespace per scheme family
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs", "local": "file"}


# -- assets -----------------------------------------------------------------------------------
def sanitize_uri(uri: SplitResult) -> SplitResult:
    """The ``oss`` asset URI normaliser: a bucket is required; bucket names are lowercase in
    OSS, so ``oss://My-Bucket/k`` and ``oss://my-bucket/k`` are one asset. The key is kept as
    given (Airflow has already dropped a trailing slash, a fragment and user info)."""
    if not uri.netloc:
        raise ValueError("URI format oss:// must contain a bucket name: oss://bucket/key")
    if uri.port is not None:
        raise ValueError(f"an oss:// asset URI names a bucket, not a host:port: {uri.netloc!r}")
    return uri._replace(netloc=uri.netloc.lower())


def create_asset(*, bucket: str, key: str = "", extra: dict | None = None) -> Any:
    """``Asset("oss://bucket/key")`` (the ``factory`` of the ``asset-uris`` entry)."""
    from oss_provider._compat import Asset

    return Asset(uri=f"oss://{bucket}/{key.lstrip('/')}", extra=extra)


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """An ``oss://bucket/key`` asset as an OpenLineage dataset: namespace ``oss://bucket``, name
    ``key`` (``/`` for the bucket itself)."""
    parsed = urllib.parse.urlsplit(asset.uri)
    return _dataset(f"oss://{parsed.netloc}", parsed.path.lstrip("/") or "/")


# -- datasets ---------------------------------------------------------------------------------
def _dataset(namespace: str, name: str) -> Any:
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset
    except ImportError:  # common-compat without the OpenLineage shim
        from openlineage.client.event_v2 import Dataset
    return Dataset(namespace=namespace, name=name)


def _local_host() -> str:
    return socket.gethostname()


def source_dataset(source: Any) -> Any | None:
    """An upload source as an OpenLineage dataset, or None for what has no address (a stream).

    Local paths and ``file://`` URLs: namespace ``file://<host>``, name the absolute path;
    ``s3://``, ``gs://``, ``oss://`` ...: namespace ``<scheme>://<bucket>``, name the key; other
    fsspec URLs (``https://host/p``, ``sftp://host/p``): ``<scheme>://<netloc>`` and the path.
    An ``ObjectStoragePath`` is taken by its URL.
    """
    if getattr(source, "protocol", None):
        text = str(source)  # an ObjectStoragePath: its URL (a conn id shows as user info)
    elif isinstance(source, os.PathLike):
        text = os.fspath(source)
        text = text if isinstance(text, str) else text.decode()
    elif isinstance(source, str):
        text = source.strip()
    else:
        return None
    if not text:
        return None
    parsed = urllib.parse.urlsplit(text)
    scheme = parsed.scheme.lower()
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter
        return _dataset(f"file://{_local_host()}", os.path.abspath(text))
    scheme = _SCHEME_ALIASES.get(scheme, scheme)
    netloc = parsed.netloc.rpartition("@")[2]  # never user info (a conn id, a password)
    if scheme == "file":
        return _dataset(f"file://{netloc or _local_host()}", parsed.path or "/")
    return _dataset(f"{scheme}://{netloc}", parsed.path.lstrip("/") or "/")


def object_dataset(bucket: str, key: str) -> Any:
    return _dataset(f"oss://{bucket}", key)


# -- operators --------------------------------------------------------------------------------
class OSSOpenLineageMixin:
    """``get_openlineage_facets_on_complete`` for the operators that write an object.

    Input: the operator's ``source``; an operator without one (Complete) takes the sources of
    its upstream plan / upload-parts tasks, rendered for this run. Output: the object.
    """

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow.providers.openlineage.extractors import OperatorLineage

        bucket, key = self._target()  # rendered fields; the hook is already built
        inputs = []
        for source in _sources(self, task_instance):
            dataset = source_dataset(source)
            if dataset is not None and dataset not in inputs:
                inputs.append(dataset)
        return OperatorLineage(inputs=inputs, outputs=[object_dataset(bucket, key)])


def _sources(op: Any, task_instance: Any) -> list[Any]:
    own = getattr(op, "source", None)
    if own is not None:
        return [own]
    found = []
    context = None
    for task in sorted(op.get_flat_relatives(upstream=True), key=lambda t: t.task_id):
        partial = getattr(task, "partial_kwargs", None)  # a mapped task
        value = (
            partial.get("source") if isinstance(partial, dict) else getattr(task, "source", None)
        )
        if value is None:
            continue
        if context is None:
            context = task_instance.get_template_context()
        try:
            found.append(op.render_template(value, context))
        except Exception as exc:  # noqa: BLE001 - lineage must never fail the task
            log.debug("OpenLineage: cannot render the source of %s: %s", task.task_id, exc)
    return found


__all__ = [
    "OSSOpenLineageMixin",
    "convert_asset_to_openlineage",
    "create_asset",
    "object_dataset",
    "sanitize_uri",
    "source_dataset",
]
