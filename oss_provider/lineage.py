"""OpenLineage and Airflow assets for ``oss://``.

- ``sanitize_uri`` / ``create_asset`` / ``convert_asset_to_openlineage``: the ``asset-uris``
  entry of the provider info, so ``Asset("oss://bucket/key")`` is validated, normalised and
  reported to OpenLineage as namespace ``oss://bucket``, name ``key``. :func:`asset_uri` is the
  one spelling of an object's asset URI (the key percent-encoded); the converter decodes it.
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
# What stays literal in an asset URI's key: ``/`` and RFC 3986's other path characters (``=``,
# ``:``, ``@``, ``+`` ... as in ``year=2026/part.csv``), so plain keys keep the URI they always
# had. Everything else (``#``, ``?``, ``%``, space, control and non-ASCII characters) is
# percent-encoded: Airflow drops a fragment, rewrites a query and (Airflow 2, MySQL) refuses
# non-ASCII, and would otherwise turn ``dir/a#1.csv`` into the asset of ``dir/a``.
_KEY_SAFE = "/!$&'()*+,;=:@"


def asset_uri(bucket: str, key: str = "") -> str:
    """``oss://bucket/<key percent-encoded>``: the one spelling of an object's asset URI.

    Decoding the path (:func:`asset_target`) gives the key back exactly. Trailing slashes are
    encoded too (``%2F``), since Airflow strips them and ``dir/`` would become ``dir``. OSS
    keys cannot start with ``/``, so a leading one is dropped."""
    encoded = urllib.parse.quote(key.lstrip("/"), safe=_KEY_SAFE)
    path = encoded.rstrip("/")
    path += "%2F" * (len(encoded) - len(path))
    return f"{SCHEME}://{bucket.lower()}/{path}"


def asset_target(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``oss://`` asset URI, the inverse of :func:`asset_uri`.

    A query can only be a ``?`` in a hand-written key, so it is kept as part of the key."""
    parsed = urllib.parse.urlsplit(uri)
    key = urllib.parse.unquote(parsed.path.lstrip("/"))
    if parsed.query:
        key += "?" + urllib.parse.unquote(parsed.query)
    return parsed.netloc, key


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """The ``oss`` asset URI normaliser: a bucket is required; bucket names are lowercase in
    OSS, so ``oss://My-Bucket/k`` and ``oss://my-bucket/k`` are one asset. The key is kept as
    given, escapes included, so :func:`asset_uri`'s output is stable (Airflow has already
    dropped a trailing slash, a fragment and user info)."""
    if not uri.netloc:
        raise ValueError("URI format oss:// must contain a bucket name: oss://bucket/key")
    if uri.port is not None:
        raise ValueError(f"an oss:// asset URI names a bucket, not a host:port: {uri.netloc!r}")
    return uri._replace(netloc=uri.netloc.lower())


def create_asset(*, bucket: str, key: str = "", extra: dict | None = None) -> Any:
    """The Asset of object ``key`` in ``bucket`` (the ``factory`` of the ``asset-uris`` entry,
    and what :func:`~oss_provider.operators.base.oss_asset` returns): URI from
    :func:`asset_uri`."""
    from oss_provider._compat import Asset

    return Asset(uri=asset_uri(bucket, key), extra=extra)


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """An ``oss://bucket/key`` asset as an OpenLineage dataset: namespace ``oss://bucket``, name
    the exact (decoded) key, ``/`` for the bucket itself."""
    bucket, key = asset_target(asset.uri)
    return _dataset(f"{SCHEME}://{bucket}", key or "/")


# -- datasets ---------------------------------------------------------------------------------
def _dataset(namespace: str, name: str) -> Any:
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset
    except ImportError:  # common-compat without the OpenLineage shim
        from openlineage.client.event_v2 import Dataset
    return Dataset(namespace=namespace, name=name)


def _local_host() -> str:
    return socket.gethostname()


# Schemes whose URL paths are percent-encoded text: the upload decodes ``file://`` paths (see
# ``open_source``) and HTTP servers decode theirs. fsspec takes every other scheme's path
# literally (``s3://b/a%20b#1`` is the key ``a%20b#1``), so those are named as written.
_ENCODED_SCHEMES = frozenset({"file", "http", "https"})


def source_dataset(source: Any) -> Any | None:
    """An upload source as an OpenLineage dataset, or None for what has no address (a stream).

    Local paths and ``file://`` URLs: namespace ``file://<host>``, name the absolute path, the
    URL decoded (``my%20file.csv`` is ``my file.csv``); ``s3://``, ``gs://``, ``oss://`` ...:
    namespace ``<scheme>://<bucket>``, name the key exactly as written (``#`` and ``?``
    included); ``http(s)://host/p``: the host and the decoded path; other fsspec URLs
    (``sftp://host/p``): ``<scheme>://<netloc>`` and the path as written. An
    ``ObjectStoragePath`` is taken by its URL (a local one by its path).
    """
    protocol = getattr(source, "protocol", None)
    if protocol:
        if protocol in ("file", "local") and getattr(source, "path", None):
            return _dataset(f"file://{_local_host()}", str(source.path))
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
    if scheme in _ENCODED_SCHEMES:
        netloc = parsed.netloc.rpartition("@")[2]  # never user info (a conn id, a password)
        path = urllib.parse.unquote(parsed.path)
        if scheme == "file":
            return _dataset(f"file://{netloc or _local_host()}", path or "/")
        return _dataset(f"{scheme}://{netloc}", path.lstrip("/") or "/")
    rest = text[len(parsed.scheme) + 1 :].removeprefix("//")
    netloc, _, path = rest.partition("/")
    netloc = netloc.rpartition("@")[2]
    return _dataset(f"{scheme}://{netloc}", path.lstrip("/") or "/")


def object_dataset(bucket: str, key: str) -> Any:
    """The written object: namespace ``oss://bucket``, name the key as is (never encoded)."""
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
    "asset_target",
    "asset_uri",
    "convert_asset_to_openlineage",
    "create_asset",
    "object_dataset",
    "sanitize_uri",
    "source_dataset",
]
