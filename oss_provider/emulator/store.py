"""Disk-backed state: buckets, objects, multipart uploads and parts. No HTTP in here.

Layout under the data directory (every name is derived, never taken from a key, so no key can
escape the directory)::

    buckets/<bucket>.json                 bucket record (creation time, lifecycle XML)
    objects/<bucket>/<sha256(key)>.json   object record: metadata + list of blob segments
    uploads/<upload id>/upload.json       in-progress upload
    uploads/<upload id>/parts/<n>.json    one part record each (no whole-upload rewrite per part)
    blobs/<uuid>                          immutable data files (parts, object segments)
    tmp/                                  bodies being received

Complete moves part blobs into the object's segment list, so it never copies data. Blobs that lose
their last reference are deleted, unless a reader is still streaming them (then on its close).
A restart reloads everything and deletes unreferenced blobs and half-received bodies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

from .crc import crc64, crc64_combine
from .errors import ServiceError

MIN_PART_SIZE = 100 * 1024
MAX_PART_NUMBER = 10_000
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@dataclass
class PartRecord:
    number: int
    blob: str
    size: int
    etag: str  # upper-case hex MD5, no quotes
    crc: int | None
    last_modified: float


@dataclass
class UploadRecord:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # cache-control, sse, storage class...
    parts: dict[int, PartRecord] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # x-oss-tagging at Initiate
    acl: str = "default"  # x-oss-object-acl at Initiate (Complete may override)

    @property
    def storage_class(self) -> str:
        return self.headers.get("x-oss-storage-class", "Standard")


@dataclass
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str
    crc: int | None
    object_type: str  # Normal | Multipart
    last_modified: float
    segments: list[tuple[str, int]]  # (blob, size)
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content_md5: str | None = None  # base64, Normal objects only
    tags: dict[str, str] = field(default_factory=dict)
    acl: str = "default"

    @property
    def storage_class(self) -> str:
        return self.headers.get("x-oss-storage-class", "Standard")


@dataclass
class BucketRecord:
    name: str
    created: float
    lifecycle_xml: str | None = None


@dataclass
class BlobInfo:
    """A fully received body, not yet committed."""

    path: Path
    size: int
    md5: bytes
    crc: int

    @property
    def etag(self) -> str:
        return self.md5.hex().upper()

    @property
    def md5_base64(self) -> str:
        return base64.b64encode(self.md5).decode("ascii")


class BlobWriter:
    """Receives a body chunk by chunk, hashing MD5 and CRC-64 once while it goes to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in finish/discard
        self._md5 = hashlib.md5()
        self._crc = 0
        self.size = 0

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self._md5.update(chunk)
        self._crc = crc64(chunk, self._crc)
        view = memoryview(chunk)
        while view:
            written = self._file.write(view)
            view = view[written:]
        self.size += len(chunk)

    def finish(self) -> BlobInfo:
        self._file.close()
        return BlobInfo(self.path, self.size, self._md5.digest(), self._crc)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class ObjectReader:
    """A snapshot of an object for streaming; keeps its blobs alive until closed."""

    def __init__(self, store: Store, record: ObjectRecord) -> None:
        self._store = store
        self.record = record
        self._closed = False

    def ranges(self, start: int, end: int) -> list[tuple[Path, int, int]]:
        """(file, offset, count) pieces covering bytes ``start..end`` inclusive."""
        pieces = []
        pos = 0
        for blob, size in self.record.segments:
            lo, hi = max(start, pos), min(end, pos + size - 1)
            if lo <= hi:
                pieces.append((self._store.blob_path(blob), lo - pos, hi - lo + 1))
            pos += size
        return pieces

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store._release_readers(self.record.segments)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def _key_file(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest() + ".json"


class Store:
    """All emulator state; thread-safe (one lock around metadata, bodies stream outside it)."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).resolve()
        for sub in ("buckets", "objects", "uploads", "blobs", "tmp", "trash"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._buckets: dict[str, BucketRecord] = {}
        self._objects: dict[str, dict[str, ObjectRecord]] = {}
        self._uploads: dict[str, UploadRecord] = {}
        self._readers: Counter[str] = Counter()
        self._doomed: set[str] = set()
        self._last_upload_seq = 0
        self._load()

    # ----------------------------------------------------------------- loading

    def _load(self) -> None:
        shutil.rmtree(self.root / "tmp", ignore_errors=True)
        shutil.rmtree(self.root / "trash", ignore_errors=True)
        (self.root / "tmp").mkdir()
        (self.root / "trash").mkdir()
        referenced: set[str] = set()
        for path in sorted((self.root / "buckets").glob("*.json")):
            rec = BucketRecord(**json.loads(path.read_text("utf-8")))
            self._buckets[rec.name] = rec
            self._objects[rec.name] = {}
            for opath in (self.root / "objects" / rec.name).glob("*.json"):
                data = json.loads(opath.read_text("utf-8"))
                data["segments"] = [tuple(s) for s in data["segments"]]
                obj = ObjectRecord(**data)
                self._objects[rec.name][obj.key] = obj
                referenced.update(blob for blob, _ in obj.segments)
        for udir in (self.root / "uploads").iterdir():
            meta = udir / "upload.json"
            if not meta.is_file():
                shutil.rmtree(udir, ignore_errors=True)
                continue
            data = json.loads(meta.read_text("utf-8"))
            data["parts"] = {}
            up = UploadRecord(**data)
            if up.bucket not in self._buckets:
                shutil.rmtree(udir, ignore_errors=True)
                continue
            for ppath in (udir / "parts").glob("*.json"):
                part = PartRecord(**json.loads(ppath.read_text("utf-8")))
                up.parts[part.number] = part
                referenced.add(part.blob)
            self._uploads[up.upload_id] = up
        for blob in (self.root / "blobs").iterdir():
            if blob.name not in referenced:
                blob.unlink(missing_ok=True)

    # ----------------------------------------------------------------- helpers

    def blob_path(self, blob: str) -> Path:
        return self.root / "blobs" / blob

    def new_blob_writer(self) -> BlobWriter:
        return BlobWriter(self.root / "tmp" / uuid.uuid4().hex)

    def _adopt(self, info: BlobInfo) -> str:
        blob = uuid.uuid4().hex
        os.replace(info.path, self.blob_path(blob))
        return blob

    def _release_blob(self, blob: str) -> None:
        if self._readers[blob] > 0:
            self._doomed.add(blob)
        else:
            self.blob_path(blob).unlink(missing_ok=True)

    def _release_readers(self, segments: Iterable[tuple[str, int]]) -> None:
        with self._lock:
            for blob, _ in segments:
                self._readers[blob] -= 1
                if self._readers[blob] <= 0:
                    del self._readers[blob]
                    if blob in self._doomed:
                        self._doomed.discard(blob)
                        self.blob_path(blob).unlink(missing_ok=True)

    def _bucket(self, name: str) -> BucketRecord:
        rec = self._buckets.get(name)
        if rec is None:
            raise ServiceError("NoSuchBucket", extras={"BucketName": name}, ec="0015-00000101")
        return rec

    def _object_path(self, bucket: str, key: str) -> Path:
        return self.root / "objects" / bucket / _key_file(key)

    def _upload_dir(self, upload_id: str) -> Path:
        return self.root / "uploads" / upload_id

    def _new_upload_id(self) -> str:
        seq = max(self._last_upload_seq + 1, time.time_ns())
        self._last_upload_seq = seq
        return f"{seq:016X}{uuid.uuid4().hex[:16].upper()}"

    # ----------------------------------------------------------------- buckets

    def create_bucket(self, name: str, now: float) -> BucketRecord:
        if not BUCKET_NAME.match(name):
            raise ServiceError("InvalidBucketName", extras={"BucketName": name})
        with self._lock:
            if name in self._buckets:
                raise ServiceError("BucketAlreadyExists", extras={"BucketName": name})
            rec = BucketRecord(name, now)
            (self.root / "objects" / name).mkdir(exist_ok=True)
            _write_json(self.root / "buckets" / f"{name}.json", asdict(rec))
            self._buckets[name] = rec
            self._objects[name] = {}
            return rec

    def get_bucket(self, name: str) -> BucketRecord:
        with self._lock:
            return self._bucket(name)

    def list_buckets(self) -> list[BucketRecord]:
        with self._lock:
            return sorted(self._buckets.values(), key=lambda b: b.name)

    def delete_bucket(self, name: str, *, force: bool = False) -> None:
        """Delete a bucket; it must be empty (objects and uploads) unless ``force``."""
        with self._lock:
            self._bucket(name)
            uploads = [u for u in self._uploads.values() if u.bucket == name]
            if not force and (self._objects[name] or uploads):
                raise ServiceError("BucketNotEmpty", extras={"BucketName": name})
            for up in uploads:
                self._drop_upload(up, keep=())
            for obj in list(self._objects[name].values()):
                self.delete_object(name, obj.key)
            (self.root / "buckets" / f"{name}.json").unlink(missing_ok=True)
            shutil.rmtree(self.root / "objects" / name, ignore_errors=True)
            del self._buckets[name]
            del self._objects[name]

    def set_lifecycle(self, name: str, xml: str | None) -> None:
        with self._lock:
            rec = self._bucket(name)
            rec.lifecycle_xml = xml
            _write_json(self.root / "buckets" / f"{name}.json", asdict(rec))

    # ----------------------------------------------------------------- objects

    def head(self, bucket: str, key: str) -> ObjectRecord:
        with self._lock:
            self._bucket(bucket)
            obj = self._objects[bucket].get(key)
            if obj is None:
                raise ServiceError("NoSuchKey", extras={"Key": key}, ec="0026-00000001")
            return obj

    def exists(self, bucket: str, key: str) -> bool:
        with self._lock:
            return key in self._objects.get(bucket, {})

    def open_object(self, bucket: str, key: str) -> ObjectReader:
        with self._lock:
            obj = self.head(bucket, key)
            for blob, _ in obj.segments:
                self._readers[blob] += 1
            return ObjectReader(self, obj)

    def _commit_object(self, obj: ObjectRecord) -> None:
        old = self._objects[obj.bucket].get(obj.key)
        data = asdict(obj)
        _write_json(self._object_path(obj.bucket, obj.key), data)
        self._objects[obj.bucket][obj.key] = obj
        if old is not None:
            for blob, _ in old.segments:
                self._release_blob(blob)

    def put_object(
        self,
        bucket: str,
        key: str,
        info: BlobInfo,
        now: float,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        forbid_overwrite: bool = False,
        tags: dict[str, str] | None = None,
        acl: str = "default",
    ) -> ObjectRecord:
        with self._lock:
            try:
                self._bucket(bucket)
                if forbid_overwrite and key in self._objects[bucket]:
                    raise ServiceError("FileAlreadyExists", ec="0026-00000009")
            except ServiceError:
                info.path.unlink(missing_ok=True)
                raise
            blob = self._adopt(info)
            obj = ObjectRecord(
                bucket=bucket,
                key=key,
                size=info.size,
                etag=info.etag,
                crc=info.crc,
                object_type="Normal",
                last_modified=now,
                segments=[(blob, info.size)] if info.size else [],
                content_type=content_type,
                metadata=dict(metadata or {}),
                headers=dict(headers or {}),
                content_md5=info.md5_base64,
                tags=dict(tags or {}),
                acl=acl,
            )
            if not info.size:
                self.blob_path(blob).unlink(missing_ok=True)
            self._commit_object(obj)
            return obj

    def update_object(self, bucket: str, key: str, **changes: object) -> ObjectRecord:
        """Change an object's tags or ACL in place (data, ETag and Last-Modified stay)."""
        with self._lock:
            obj = self.head(bucket, key)
            for name, value in changes.items():
                if name not in ("tags", "acl"):
                    raise ValueError(f"cannot change {name!r} in place")
                setattr(obj, name, value)
            _write_json(self._object_path(bucket, key), asdict(obj))
            return obj

    def delete_object(self, bucket: str, key: str) -> None:
        with self._lock:
            self._bucket(bucket)
            obj = self._objects[bucket].pop(key, None)
            if obj is None:
                return
            self._object_path(bucket, key).unlink(missing_ok=True)
            for blob, _ in obj.segments:
                self._release_blob(blob)

    def list_objects(self, bucket: str) -> list[ObjectRecord]:
        """Every object of the bucket, sorted by key (byte-wise on UTF-8)."""
        with self._lock:
            self._bucket(bucket)
            objs = list(self._objects[bucket].values())
        return sorted(objs, key=lambda o: o.key.encode("utf-8", "surrogatepass"))

    # ----------------------------------------------------------------- uploads

    def initiate(
        self,
        bucket: str,
        key: str,
        now: float,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        forbid_overwrite: bool = False,
        tags: dict[str, str] | None = None,
        acl: str = "default",
    ) -> UploadRecord:
        with self._lock:
            self._bucket(bucket)
            if forbid_overwrite and key in self._objects[bucket]:
                raise ServiceError("FileAlreadyExists", ec="0042-00000214")
            up = UploadRecord(
                upload_id=self._new_upload_id(),
                bucket=bucket,
                key=key,
                initiated=now,
                content_type=content_type,
                metadata=dict(metadata or {}),
                headers=dict(headers or {}),
                tags=dict(tags or {}),
                acl=acl,
            )
            udir = self._upload_dir(up.upload_id)
            (udir / "parts").mkdir(parents=True)
            data = asdict(up)
            del data["parts"]
            _write_json(udir / "upload.json", data)
            self._uploads[up.upload_id] = up
            return up

    def get_upload(
        self, bucket: str, key: str, upload_id: str, ec: str = "0017-00000244"
    ) -> UploadRecord:
        """The live upload, scoped to bucket and key; NoSuchUpload otherwise."""
        with self._lock:
            self._bucket(bucket)
            up = self._uploads.get(upload_id)
            if up is None or up.bucket != bucket or up.key != key:
                raise ServiceError("NoSuchUpload", extras={"UploadId": upload_id}, ec=ec)
            return up

    def commit_part(
        self, bucket: str, key: str, upload_id: str, number: int, info: BlobInfo, now: float
    ) -> PartRecord:
        """Store a received part; the same number again replaces it (last commit wins, whole)."""
        with self._lock:
            try:
                up = self.get_upload(bucket, key, upload_id)
            except ServiceError:
                info.path.unlink(missing_ok=True)
                raise
            part = PartRecord(number, self._adopt(info), info.size, info.etag, info.crc, now)
            _write_json(self._upload_dir(upload_id) / "parts" / f"{number}.json", asdict(part))
            old = up.parts.get(number)
            up.parts[number] = part
            if old is not None:
                self._release_blob(old.blob)
            return part

    def complete(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        listed: list[tuple[int, str]] | None,
        now: float,
        *,
        forbid_overwrite: bool = False,
        acl: str | None = None,
    ) -> ObjectRecord:
        """Validate in OSS's order (after the XML parsed) and turn the parts into an object.

        ``listed`` is ``[(part number, etag)]`` as the client sent it, or None for complete-all.
        """
        with self._lock:
            up = self.get_upload(bucket, key, upload_id, ec="0042-00000002")
            if listed is None:
                chosen = [up.parts[n] for n in sorted(up.parts)]
                if not chosen:
                    raise ServiceError("InvalidPart", ec="0042-00000210")
            else:
                previous = 0
                for number, _ in listed:
                    if not 1 <= number <= MAX_PART_NUMBER:
                        raise ServiceError(
                            "InvalidPartOrder",
                            "Part number must be an integer between 1 and 10000, inclusive.",
                            ec="0042-00000209",
                        )
                    if number <= previous:
                        raise ServiceError("InvalidPartOrder", ec="0042-00000209")
                    previous = number
                chosen = []
                for number, etag in listed:
                    part = up.parts.get(number)
                    if part is None or part.etag.upper() != etag.strip().strip('"').upper():
                        raise ServiceError(
                            "InvalidPart",
                            extras={"PartNumber": str(number), "ETag": etag},
                            ec="0042-00000210",
                        )
                    chosen.append(part)
            for part in chosen[:-1]:
                if part.size < MIN_PART_SIZE:
                    raise ServiceError(
                        "EntityTooSmall",
                        extras={
                            "MinSizeAllowed": str(MIN_PART_SIZE),
                            "ProposedSize": str(part.size),
                            "PartNumber": str(part.number),
                        },
                        ec="0042-00000213",
                    )
            if forbid_overwrite and key in self._objects[bucket]:
                raise ServiceError("FileAlreadyExists", ec="0042-00000214")
            md5s = b"".join(bytes.fromhex(p.etag) for p in chosen)
            crc: int | None = 0
            for part in chosen:
                crc = (
                    None
                    if crc is None or part.crc is None
                    else crc64_combine(crc, part.crc, part.size)
                )
            obj = ObjectRecord(
                bucket=bucket,
                key=key,
                size=sum(p.size for p in chosen),
                etag=f"{hashlib.md5(md5s).hexdigest().upper()}-{len(chosen)}",
                crc=crc,
                object_type="Multipart",
                last_modified=now,
                segments=[(p.blob, p.size) for p in chosen if p.size],
                content_type=up.content_type,
                metadata=dict(up.metadata),
                headers=dict(up.headers),
                tags=dict(up.tags),
                acl=acl or up.acl,
            )
            self._commit_object(obj)
            self._drop_upload(up, keep={p.blob for p in chosen if p.size})
            return obj

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            up = self.get_upload(bucket, key, upload_id, ec="0042-00000002")
            self._drop_upload(up, keep=())

    def _drop_upload(self, up: UploadRecord, keep: Iterable[str]) -> None:
        keep = set(keep)
        del self._uploads[up.upload_id]
        trash = self.root / "trash" / f"{up.upload_id}-{uuid.uuid4().hex}"
        os.replace(self._upload_dir(up.upload_id), trash)
        for part in up.parts.values():
            if part.blob not in keep:
                self._release_blob(part.blob)
        shutil.rmtree(trash, ignore_errors=True)

    def list_uploads(self, bucket: str) -> list[UploadRecord]:
        """In-progress uploads of a bucket, by key (byte-wise) then upload id (= initiation)."""
        with self._lock:
            self._bucket(bucket)
            ups = [u for u in self._uploads.values() if u.bucket == bucket]
        return sorted(ups, key=lambda u: (u.key.encode("utf-8", "surrogatepass"), u.upload_id))

    def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[UploadRecord, list[PartRecord]]:
        with self._lock:
            up = self.get_upload(bucket, key, upload_id)
            return up, [up.parts[n] for n in sorted(up.parts)]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "buckets": len(self._buckets),
                "objects": sum(len(v) for v in self._objects.values()),
                "uploads": len(self._uploads),
            }
