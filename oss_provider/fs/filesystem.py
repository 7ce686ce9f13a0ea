"""``OSSFileSystem``: an fsspec filesystem over this package's OSS client, so ``oss://`` paths
work with ``ObjectStoragePath``, ``fsspec.open`` and anything built on fsspec.

Folders are key prefixes ending in ``/`` (as in every object store): ``ls`` lists one level with
ListObjectsV2 and ``delimiter="/"``, ``find`` lists everything under a prefix, both paged. Reads
are ranged GETs. Writes above one part size go through the parallel, verified multipart engine
(``put_file``, ``pipe_file``, ``open("wb")``); below it, one PUT with Content-MD5 and a CRC-64
check. ``rm`` deletes 1,000 keys a request; ``copy`` is server-side (CopyObject up to 5 GiB,
UploadPartCopy above).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from oss_provider.client.api import OSSClient
from oss_provider.client.errors import NoSuchBucket, NoSuchKey
from oss_provider.client.objects import MAX_COPY_OBJECT_SIZE
from oss_provider.client.options import ObjectOptions
from oss_provider.fs.writer import OSSObjectWriter
from oss_provider.transfer import upload as transfer
from oss_provider.transfer.config import DEFAULT_PART_SIZE, TransferConfig

DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024


def _file_entry(bucket: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{bucket}/{item['key']}",
        "size": item["size"],
        "type": "file",
        "ETag": item.get("etag"),
        "LastModified": item.get("last_modified"),
    }


def _dir_entry(path: str) -> dict[str, Any]:
    return {"name": path.rstrip("/"), "size": 0, "type": "directory"}


class OSSFileSystem(AbstractFileSystem):
    """fsspec filesystem for ``oss://bucket/key``.

    :param client: an :class:`OSSClient`; default: the client of Airflow connection ``conn_id``
        (``oss_multipart_default``), which ``get_fs`` passes for ``ObjectStoragePath``
    :param config: how writes are transferred (a
        :class:`~oss_provider.transfer.config.TransferConfig`; ``get_fs`` passes the one merged
        from the connection's extras); a write below its threshold (the part size, 8 MiB by
        default) is one PUT
    :param part_size: bytes per part for writes, over ``config``
    :param concurrency: parts in flight for writes, over ``config``
    """

    protocol = ("oss",)
    root_marker = ""
    cachable = False  # each instance holds its own client (and credentials)

    def __init__(
        self,
        client: OSSClient | None = None,
        *,
        conn_id: str | None = None,
        config: TransferConfig | None = None,
        part_size: int | None = None,
        concurrency: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = {"part_size": part_size, "concurrency": concurrency}
        if client is None:  # fsspec.open("oss://...") without Airflow's ObjectStoragePath
            from oss_provider.hooks.oss_multipart import OSSMultipartHook

            hook = OSSMultipartHook(oss_conn_id=conn_id or "oss_multipart_default")
            client = hook.get_client()
            config = hook.transfer_inputs(config, None, given)[0]
        self.client = client
        self.config = TransferConfig.build(config, **given)

    @property
    def part_size(self) -> int:
        """Bytes per part of a write (also the one-PUT threshold)."""
        return self.config.part_size or DEFAULT_PART_SIZE

    @property
    def concurrency(self) -> int:
        """Parts of a write in flight at once."""
        return self.config.concurrency

    # -- paths --------------------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]  # type: ignore[return-value]
        text = str(path)
        text = text.removeprefix("oss://")
        return text.strip("/")

    def split_path(self, path: str) -> tuple[str, str]:
        """``(bucket, key)``; the key is "" for a bucket."""
        path = self._strip_protocol(path)
        bucket, _, key = path.partition("/")
        if not bucket:
            raise ValueError(f"an oss:// path needs a bucket: oss://bucket/key, got {path!r}")
        return bucket, key

    # -- reading metadata ---------------------------------------------------------------------
    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        bucket, key = self.split_path(path)
        if key:
            try:
                head = self.client.head_object(bucket, key)
            except NoSuchKey:
                pass
            except NoSuchBucket:
                raise FileNotFoundError(f"oss://{bucket}: no such bucket") from None
            else:
                return {
                    "name": f"{bucket}/{key}",
                    "size": head.size,
                    "type": "file",
                    "ETag": head.etag,
                    "LastModified": head.last_modified,
                    "ContentType": head.content_type,
                    "crc64": head.crc64,
                    "metadata": head.metadata,
                }
        prefix = f"{key.rstrip('/')}/" if key else ""
        try:
            page = next(self.client.iter_objects_pages(bucket, prefix=prefix, delimiter="/"))
        except NoSuchBucket:
            raise FileNotFoundError(f"oss://{bucket}: no such bucket") from None
        if not key or page.objects or page.prefixes:
            return _dir_entry(f"{bucket}/{key}")
        raise FileNotFoundError(f"oss://{bucket}/{key}")

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        bucket, key = self.split_path(path)
        if key:
            entry = self.info(path)  # FileNotFoundError when neither object nor folder
            if entry["type"] == "file":
                return [entry] if detail else [entry["name"]]
        prefix = f"{key.rstrip('/')}/" if key else ""
        out: list[dict[str, Any]] = []
        try:
            for page in self.client.iter_objects_pages(bucket, prefix=prefix, delimiter="/"):
                out += [_dir_entry(f"{bucket}/{p}") for p in page.prefixes]
                out += [_file_entry(bucket, o) for o in page.objects if o["key"] != prefix]
        except NoSuchBucket:
            raise FileNotFoundError(f"oss://{bucket}: no such bucket") from None
        return out if detail else [e["name"] for e in out]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        if maxdepth is not None:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail)
        bucket, key = self.split_path(path)
        found: dict[str, dict[str, Any]] = {}
        if key:
            try:
                entry = self.info(path)
            except FileNotFoundError:
                entry = None
            if entry is not None and entry["type"] == "file":
                found[entry["name"]] = entry
        prefix = f"{key.rstrip('/')}/" if key else ""
        try:
            for page in self.client.iter_objects_pages(bucket, prefix=prefix):
                for item in page.objects:
                    entry = _file_entry(bucket, item)
                    if item["key"].endswith("/"):
                        entry = _dir_entry(entry["name"])  # a "folder" marker object
                        if not withdirs:
                            continue
                    found[entry["name"]] = entry
                    if withdirs:
                        self._add_parents(found, bucket, item["key"], prefix)
        except NoSuchBucket:
            raise FileNotFoundError(f"oss://{bucket}: no such bucket") from None
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    @staticmethod
    def _add_parents(found: dict[str, dict], bucket: str, key: str, prefix: str) -> None:
        parts = key[len(prefix) :].rstrip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            name = f"{bucket}/{prefix}{'/'.join(parts[:depth])}"
            found.setdefault(name, _dir_entry(name))

    def modified(self, path: str) -> datetime:
        info = self.info(path)
        if info["type"] != "file" or info.get("LastModified") is None:
            raise IsADirectoryError(f"oss://{self._strip_protocol(path)} is a folder")
        return info["LastModified"]

    def ukey(self, path: str) -> str:
        return str(self.info(path).get("ETag"))

    def checksum(self, path: str) -> int:
        return int(str(self.info(path).get("ETag") or "0").split("-")[0] or "0", 16)

    # -- reading data ---------------------------------------------------------------------------
    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        bucket, key = self.split_path(path)
        if start is None and end is None:
            try:
                return self.client.get_object(bucket, key)
            except NoSuchKey:
                raise FileNotFoundError(f"oss://{bucket}/{key}") from None
        size = None
        if (start is not None and start < 0) or (end is not None and end < 0) or end is None:
            size = self.info(path)["size"]
        first = 0 if start is None else (start if start >= 0 else max(0, size + start))
        stop = size if end is None else (end if end >= 0 else size + end)
        if stop is not None and first >= stop:
            return b""
        try:
            return self.client.get_object(bucket, key, byte_range=(first, stop - 1))
        except NoSuchKey:
            raise FileNotFoundError(f"oss://{bucket}/{key}") from None

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        bucket, key = self.split_path(path)
        if not key:
            raise IsADirectoryError(f"oss://{bucket} is a bucket, not an object")
        if "r" in mode:
            return OSSReadFile(
                self, path, mode, block_size=block_size or DEFAULT_BLOCK_SIZE,
                cache_options=cache_options,
            )  # fmt: skip
        if "a" in mode:
            raise NotImplementedError("OSS objects cannot be appended to here; write a new one")
        return OSSObjectWriter(
            self.client, bucket, key,
            part_size=int(kwargs.get("part_size") or self.part_size),
            concurrency=int(kwargs.get("concurrency") or self.concurrency),
            content_type=kwargs.get("content_type"), metadata=kwargs.get("metadata"),
        )  # fmt: skip

    # -- writing --------------------------------------------------------------------------------
    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        bucket, key = self.split_path(path)
        self._refuse_existing(path, mode)
        transfer.upload(  # one PUT below the threshold, else parts (the engine decides)
            self.client, bucket, key, io.BytesIO(value), self.config.merged(resume=False),
            ObjectOptions.of(content_type=kwargs.get("content_type")), expected_size=len(value),
        )  # fmt: skip

    def put_file(self, lpath: str, rpath: str, callback: Any = None, mode: str = "overwrite",
                 **kwargs: Any) -> None:  # fmt: skip
        import os

        if os.path.isdir(lpath):
            return  # folders are prefixes: nothing to create
        bucket, key = self.split_path(rpath)
        self._refuse_existing(rpath, mode)
        size = os.path.getsize(lpath)
        transfer.upload(  # one PUT below the threshold, else resumable parts
            self.client, bucket, key, lpath, self.config,
            ObjectOptions.of(content_type=kwargs.get("content_type")),
        )  # fmt: skip
        if callback is not None:
            callback.set_size(size)
            callback.absolute_update(size)

    def _refuse_existing(self, path: str, mode: str) -> None:
        if mode == "create" and self.exists(path):
            raise FileExistsError(f"oss://{self._strip_protocol(path)} exists (mode='create')")

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Folders are key prefixes: nothing to create (the bucket must exist)."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Folders are key prefixes: nothing to create."""

    # -- copying and removing -------------------------------------------------------------------
    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        src_bucket, src_key = self.split_path(path1)
        bucket, key = self.split_path(path2)
        info = self.info(path1)
        if info["type"] != "file":
            return  # a folder: its files are copied one by one by copy(recursive=True)
        if info["size"] <= MAX_COPY_OBJECT_SIZE:
            try:
                self.client.copy_object(src_bucket, src_key, bucket, key)
            except NoSuchKey:
                raise FileNotFoundError(f"oss://{src_bucket}/{src_key}") from None
            return
        transfer.upload(  # UploadPartCopy: no bytes through this machine
            self.client, bucket, key, f"oss://{src_bucket}/{src_key}",
            self.config.merged(resume=False),
        )  # fmt: skip

    def rm_file(self, path: str) -> None:
        bucket, key = self.split_path(path)
        self.client.delete_object(bucket, key)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        by_bucket: dict[str, list[str]] = {}
        for item in paths:
            bucket, key = self.split_path(item)
            if key:
                by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            failed = self.client.delete_objects(bucket, keys)
            if failed:
                shown = "; ".join(f"{f['key']}: {f['code']}" for f in failed[:10])
                raise OSError(f"could not delete {len(failed)} objects in oss://{bucket}: {shown}")
        self.invalidate_cache()

    def _rm(self, path: str) -> None:
        self.rm_file(path)


class OSSReadFile(AbstractBufferedFile):
    """Ranged reads of one object (fsspec's read-ahead cache over ``cat_file``)."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs.cat_file(self.path, start, end)
