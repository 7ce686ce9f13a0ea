"""OSSMultipartHook: an Airflow connection turned into one OSS client, with Airflow-shaped errors."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from oss_provider._compat import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    BaseHook,
    mask_secret,
)
from oss_provider.client.api import OSSClient
from oss_provider.client.errors import (
    OSSClientError,
    OSSError,
    OSSTransportError,
    RetriesExhaustedError,
    is_retryable,
)
from oss_provider.client.models import (
    CompletedObject,
    ObjectInfo,
    PartInfo,
    PartsPage,
    UploadedPart,
    UploadInfo,
    UploadsPage,
)
from oss_provider.client.options import ObjectOptions
from oss_provider.client.urls import is_oss_url, parse_oss_url
from oss_provider.errors import OSSHookError, OSSPermanentError
from oss_provider.hooks.connection import ConnectionSettings, settings_from_connection
from oss_provider.transfer.config import TransferConfig

DEFAULT_LIFECYCLE_RULE_ID = "oss-provider-abort-multipart"


def wrap_client_error(conn_id: str, exc: Exception) -> OSSHookError:
    """The one mapping from client errors to Airflow's: what a retry may fix becomes
    ``AirflowException`` (Airflow retries the task), the rest ``AirflowFailException``.

    Bad arguments (``ValueError`` / ``TypeError``, raised before any request) are permanent."""
    prefix = f"OSS connection {conn_id!r}: "
    if not isinstance(exc, OSSClientError):
        return OSSPermanentError(str(exc))  # a local problem: the connection is not the cause
    root = exc.last if isinstance(exc, RetriesExhaustedError) else exc
    text = str(exc)
    if isinstance(root, OSSTransportError) and not root.maybe_applied:
        text += (
            f". Check the host (endpoint) and port of connection {conn_id!r}, and that OSS (or "
            "the emulator) is reachable from this worker"
        )
    cls = OSSHookError if is_retryable(exc) else OSSPermanentError
    if isinstance(root, OSSError):
        return cls(prefix + text, code=root.code, status=root.status, request_id=root.request_id)
    return cls(prefix + text)


# Client errors, and local errors that no retry can fix (bad arguments, a missing source file).
_TRANSLATED = (
    OSSClientError,
    ValueError,
    TypeError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def _translating(method):
    """Turn client errors and bad arguments into Airflow exceptions (the hook is the one place
    that does), keeping the OSS code and request id."""

    @functools.wraps(method)
    def wrapper(self: OSSMultipartHook, *args: Any, **kwargs: Any):
        try:
            return method(self, *args, **kwargs)
        except _TRANSLATED as exc:
            raise wrap_client_error(self.oss_conn_id, exc) from exc

    return wrapper


def _translating_iter(method):
    """:func:`_translating` for generator methods (errors surface while iterating)."""

    @functools.wraps(method)
    def wrapper(self: OSSMultipartHook, *args: Any, **kwargs: Any):
        try:
            yield from method(self, *args, **kwargs)
        except _TRANSLATED as exc:
            raise wrap_client_error(self.oss_conn_id, exc) from exc

    return wrapper


class OSSMultipartHook(BaseHook):
    """Multipart uploads to Alibaba Cloud OSS through an ``oss_multipart`` connection.

    The connection is read lazily, once; the hook holds one client (one connection pool).
    """

    conn_name_attr = "oss_conn_id"
    default_conn_name = "oss_multipart_default"
    conn_type = "oss_multipart"
    hook_name = "Alibaba Cloud OSS (multipart)"

    def __init__(
        self,
        oss_conn_id: str = default_conn_name,
        *,
        source_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """:param source_conn_id: an Airflow connection (``aws``, ``google_cloud_platform``,
        ``sftp``, ``http`` ...) to read ``s3://``, ``gs://``, ``sftp://``, ``https://`` sources
        with (through ``ObjectStoragePath``) instead of ambient credentials."""
        super().__init__(**kwargs)
        self.oss_conn_id = oss_conn_id
        self.source_conn_id = source_conn_id or None
        self._client: OSSClient | None = None

    # -- connection --------------------------------------------------------------------------
    @functools.cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, read once and cached; a missing or invalid one raises
        AirflowFailException (no retry can fix it). The secret and STS token are masked."""
        try:
            conn = self.get_connection(self.oss_conn_id)
        except AirflowNotFoundException:
            raise AirflowFailException(
                f"Airflow connection {self.oss_conn_id!r} does not exist; create it (type "
                f"'oss_multipart') or set AIRFLOW_CONN_{self.oss_conn_id.upper()}"
            ) from None
        try:
            settings = settings_from_connection(conn, self.oss_conn_id)
        except ValueError as exc:  # it names the connection and the field to fix
            raise AirflowFailException(str(exc)) from None
        mask_secret(settings.credentials.access_key_secret)
        if settings.credentials.security_token:
            mask_secret(settings.credentials.security_token)
        return settings

    def get_client(self) -> OSSClient:
        """The hook's client (created on first use)."""
        if self._client is None:
            s = self.settings
            try:
                self._client = OSSClient(s.endpoint, s.credentials, **s.client_kwargs())
            except ValueError as exc:  # V4 needs a region the endpoint does not tell
                raise AirflowFailException(
                    f"connection {self.oss_conn_id!r}: {exc}; set the connection's 'region' "
                    "extra, or 'signature_version': 'v1'"
                ) from None
        return self._client

    def get_bucket_name(self, bucket_name: str | None = None, key: str | None = None) -> str:
        """The bucket: ``bucket_name``, else the bucket of an ``oss://bucket/key`` key, else the
        connection's. Both given and different is an error naming both."""
        return self.resolve_target(key, bucket_name)[0] if key else self._bucket(bucket_name)

    def _bucket(self, bucket_name: str | None) -> str:
        if bucket_name:
            return parse_oss_url(bucket_name)[0] if is_oss_url(bucket_name) else bucket_name
        if self.settings.bucket_name:
            return self.settings.bucket_name
        raise AirflowFailException(
            f"no bucket given and connection {self.oss_conn_id!r} has no default; pass "
            "bucket_name, use an oss://bucket/key URL, or set the 'bucket_name' extra"
        )

    def resolve_target(self, key: str, bucket_name: str | None = None) -> tuple[str, str]:
        """``(bucket, key)`` from a key or an ``oss://bucket/key`` URL and ``bucket_name``.

        One rule for the hook and every operator: a URL's bucket and ``bucket_name`` must agree
        when both are given; the key is used exactly as given (spaces are part of a key)."""
        if not isinstance(key, str) or not key:
            raise AirflowFailException(
                f"key must be a non-empty string (an object key or oss://bucket/key), got {key!r}"
            )
        if not is_oss_url(key):
            return self._bucket(bucket_name), key
        url_bucket, url_key = parse_oss_url(key)
        if bucket_name:
            named = self._bucket(bucket_name)
            if named != url_bucket:
                raise AirflowFailException(
                    f"key {key!r} names bucket {url_bucket!r} but bucket_name is {named!r}; "
                    "pass the bucket once (a plain key with bucket_name, or an oss:// URL alone)"
                )
        if not url_key:
            raise AirflowFailException(f"key {key!r} names a bucket but no object key")
        return url_bucket, url_key

    def _target(self, key: str, bucket_name: str | None) -> tuple[str, str]:
        return self.resolve_target(key, bucket_name)

    # -- multipart ---------------------------------------------------------------------------
    @_translating
    def initiate_multipart_upload(
        self,
        key: str,
        bucket_name: str | None = None,
        options: ObjectOptions | None = None,
        **option_kwargs: Any,
    ) -> str:
        """Start a multipart upload of ``key`` and return its upload id; ``options`` (an
        :class:`~oss_provider.client.options.ObjectOptions`, or the same as keywords:
        ``content_type``, ``metadata``, ``storage_class``, ...) become the object's."""
        bucket, key = self._target(key, bucket_name)
        options = ObjectOptions.of(options, **option_kwargs)
        return self.get_client().start_multipart_upload(bucket, key, options).upload_id

    @_translating
    def open_owned_upload(
        self,
        key: str,
        bucket_name: str | None = None,
        options: ObjectOptions | None = None,
        *,
        owner: str,
        **option_kwargs: Any,
    ) -> str:
        """The upload id of ``owner``'s upload of ``key``: the one an earlier try of the same
        task started (its owner records say so), else a fresh one, claimed at once. A lost or
        garbled Initiate answer leaves no upload behind (the unclaimed one is found and
        aborted), and a retried task never starts a second upload beside its first."""
        from oss_provider.transfer.ownership import Writer, open_owned_upload

        bucket, key = self._target(key, bucket_name)
        options = ObjectOptions.of(options, **option_kwargs)  # bad options fail here
        writer = Writer.of(owner, options)
        return open_owned_upload(self.get_client(), bucket, key, writer, options).upload_id

    @_translating
    def find_completed_upload(
        self,
        key: str,
        parts: Iterable[UploadedPart | Mapping[str, Any]],
        bucket_name: str | None = None,
    ) -> CompletedObject | None:
        """The object at the key if it is provably the Complete of ``parts`` (multipart ETag of
        these parts, size, CRC-64), else None: how a retried Complete task knows its earlier
        try's Complete was applied."""
        bucket, key = self._target(key, bucket_name)
        return self.get_client().find_completed(bucket, key, parts)

    @_translating
    def upload_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        data: bytes,
        bucket_name: str | None = None,
    ) -> UploadedPart:
        """Wraps the client's ``upload_part``: one part from memory, verified by MD5 and CRC-64.
        Client errors surface as OSSHookError (Airflow retries) or OSSPermanentError (fails at
        once)."""
        bucket, key = self._target(key, bucket_name)
        return self.get_client().upload_part(bucket, key, upload_id, part_number, data)

    @_translating
    def upload_part_copy(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        source_bucket: str,
        source_key: str,
        byte_range: tuple[int, int] | None = None,
        bucket_name: str | None = None,
    ) -> UploadedPart:
        """Wraps the client's ``upload_part_copy``: a part copied server-side from
        ``source_bucket``/``source_key`` (``byte_range`` inclusive; None: the whole object).
        Errors surface as OSSHookError (retried) or OSSPermanentError (fails at once)."""
        bucket, key = self._target(key, bucket_name)
        return self.get_client().upload_part_copy(
            bucket, key, upload_id, part_number, source_bucket, source_key, byte_range=byte_range
        )

    @_translating
    def complete_multipart_upload(
        self,
        key: str,
        upload_id: str,
        parts: Iterable[UploadedPart | Mapping[str, Any]],
        bucket_name: str | None = None,
        **options: Any,
    ) -> CompletedObject:
        """Wraps the client's ``complete_multipart_upload`` (``options``: ``forbid_overwrite``,
        ``complete_all``, ``headers``, ``initiated``); a lost answer is settled, never blindly
        re-sent. Errors surface as OSSHookError (retried) or OSSPermanentError (InvalidPart ...)."""
        bucket, key = self._target(key, bucket_name)
        return self.get_client().complete_multipart_upload(bucket, key, upload_id, parts, **options)

    @_translating
    def abort_multipart_upload(
        self, key: str, upload_id: str, bucket_name: str | None = None, *, confirm: bool = False
    ) -> bool:
        """Abort; True if this call aborted it, False if it was already gone. ``confirm``:
        abort until ListParts says the upload is gone (a part in flight cannot revive it, but
        the check makes the promise observable), at most 3 times."""
        bucket, key = self._target(key, bucket_name)
        client = self.get_client()
        aborted = client.abort_multipart_upload(bucket, key, upload_id)
        if not confirm:
            return aborted
        for _ in range(3):
            if not client.upload_exists(bucket, key, upload_id):
                return aborted
            aborted = client.abort_multipart_upload(bucket, key, upload_id) or aborted
        raise AirflowException(
            f"upload {upload_id} of oss://{bucket}/{key} still exists after 3 aborts; the "
            "cleanup operator or a lifecycle rule will remove it"
        )

    @_translating
    def list_parts(
        self,
        key: str,
        upload_id: str,
        bucket_name: str | None = None,
        *,
        max_parts: int = 1000,
        part_number_marker: int = 0,
    ) -> PartsPage:
        """Wraps the client's ``list_parts``: one page of parts after ``part_number_marker``.
        NoSuchUpload surfaces as OSSPermanentError, a transient failure as OSSHookError."""
        bucket, key = self._target(key, bucket_name)
        return self.get_client().list_parts(
            bucket, key, upload_id, max_parts=max_parts, part_number_marker=part_number_marker
        )

    @_translating_iter
    def iter_parts(
        self,
        key: str,
        upload_id: str,
        bucket_name: str | None = None,
        *,
        page_size: int = 1000,
        part_number_marker: int = 0,
    ) -> Iterator[PartInfo]:
        """Wraps the client's ``iter_parts``: every part, page by page. Errors surface while
        iterating, as OSSHookError (retried) or OSSPermanentError (fails at once)."""
        bucket, key = self._target(key, bucket_name)
        yield from self.get_client().iter_parts(
            bucket, key, upload_id, page_size=page_size, part_number_marker=part_number_marker
        )

    @_translating
    def list_multipart_uploads(
        self,
        bucket_name: str | None = None,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        max_uploads: int = 1000,
    ) -> UploadsPage:
        """Wraps the client's ``list_multipart_uploads``: one page of the bucket's in-progress
        uploads (None: the connection's bucket). Errors surface as OSSHookError (retried) or
        OSSPermanentError (fails at once)."""
        return self.get_client().list_multipart_uploads(
            self.get_bucket_name(bucket_name),
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
            max_uploads=max_uploads,
        )

    @_translating_iter
    def iter_multipart_uploads(
        self,
        bucket_name: str | None = None,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[UploadInfo]:
        """Wraps the client's ``iter_multipart_uploads``: every in-progress upload across pages.
        Errors surface while iterating, as OSSHookError (retried) or OSSPermanentError."""
        yield from self.get_client().iter_multipart_uploads(
            self.get_bucket_name(bucket_name),
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
            page_size=page_size,
        )

    @_translating
    def upload_file(
        self,
        source: Any,
        key: str,
        bucket_name: str | None = None,
        config: TransferConfig | None = None,
        options: ObjectOptions | None = None,
        **settings: Any,
    ) -> CompletedObject:
        """Upload a whole source (path, URL, ``oss://`` object, stream) in parallel parts.

        ``config`` and ``options`` are the engine's two inputs
        (:class:`~oss_provider.transfer.config.TransferConfig`,
        :class:`~oss_provider.client.options.ObjectOptions`), merged once over the connection's
        defaults; ``settings`` are the same as keywords plus :func:`oss_provider.transfer.upload.
        upload`'s ``owner``, ``progress``, ``expected_size``."""
        from oss_provider.transfer.upload import upload

        bucket, key = self._target(key, bucket_name)
        config, options, rest = self.transfer_inputs(config, options, settings)
        return upload(self.get_client(), bucket, key, self._source(source), config, options, **rest)

    def transfer_inputs(
        self,
        config: TransferConfig | None,
        options: ObjectOptions | None,
        settings: dict[str, Any],
    ) -> tuple[TransferConfig, ObjectOptions, dict[str, Any]]:
        """The one merge of a call's settings over the connection's transfer defaults
        (``part_size``, ``concurrency``, ``content_md5`` extras; None means "not given"):
        the two config objects, and the keywords that are neither (owner, progress, ...)."""
        from oss_provider.transfer.config import take_settings

        rest = dict(settings)
        defaults = self.settings.transfer_defaults
        config, options = take_settings(rest, config, options, defaults=defaults)
        return config, options, rest

    def _source(self, source: Any) -> Any:
        """A source URL read through ``source_conn_id``'s Airflow connection, when one is set."""
        conn_id = self.source_conn_id
        if not conn_id or not isinstance(source, str) or "://" not in source:
            return source
        if source.startswith(("oss://", "file://")):
            return source
        from oss_provider._compat import ObjectStoragePath

        return ObjectStoragePath(source, conn_id=conn_id)

    @_translating
    def plan_upload(
        self,
        source: Any,
        *,
        part_size: int | None = None,
        batches: int | None = None,
        max_batches: int | None = None,
    ) -> list[dict[str, Any]]:
        """Split an upload of ``source`` into mapped batches (see ``transfer.plan_batches``)."""
        from oss_provider.transfer import upload as transfer

        src = transfer.open_source(self._source(source), client=self._client_for(source))
        if part_size is None:  # the connection's default (looked up only when needed)
            part_size = self.transfer_inputs(None, None, {})[0].part_size
        try:
            if src.size is None:
                raise ValueError(
                    f"{src.description} is a stream of unknown size and cannot be planned into "
                    "batches; upload it whole (OSSMultipartUploadOperator / upload_file)"
                )
            return transfer.plan_batches(
                src.size,
                part_size,
                batches=batches,
                max_batches=max_batches or transfer.MAX_BATCHES,
                fingerprint=src.fingerprint(),
            )
        finally:
            src.close()

    @_translating
    def upload_part_batch(
        self,
        key: str,
        upload_id: str,
        source: Any,
        parts: Iterable[Mapping[str, Any]],
        bucket_name: str | None = None,
        *,
        concurrency: int | None = None,
        fingerprint: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Upload some parts (``{"part_number", "offset", "size"}`` ranges) of an upload."""
        from oss_provider.transfer.upload import upload_part_batch

        bucket, key = self._target(key, bucket_name)
        config, _, _ = self.transfer_inputs(None, None, {"concurrency": concurrency})
        return upload_part_batch(
            self.get_client(), bucket, key, upload_id, self._source(source), list(parts),
            config, fingerprint=fingerprint,
        )  # fmt: skip

    @_translating
    def source_size(self, source: Any) -> int | None:
        """The size of a source in bytes (None for a stream)."""
        from oss_provider.transfer.upload import open_source

        src = open_source(self._source(source), client=self._client_for(source))
        try:
            return src.size
        finally:
            src.close()

    def _client_for(self, source: Any) -> OSSClient | None:
        needs = (isinstance(source, str) and source.startswith("oss://")) or (
            getattr(source, "protocol", None) == "oss"
        )
        return self.get_client() if needs else None

    @_translating
    def head_object(
        self, key: str, bucket_name: str | None = None, *, missing_ok: bool = False
    ) -> ObjectInfo | None:
        """HeadObject as :class:`~oss_provider.client.models.ObjectInfo` (size, ETag, CRC-64,
        type, metadata); with ``missing_ok`` (the sensor and trigger), None when there is no
        such object yet instead of a failure."""
        from oss_provider.client.errors import NoSuchKey

        bucket, key = self._target(key, bucket_name)
        try:
            return self.get_client().head_object(bucket, key)
        except NoSuchKey:
            if missing_ok:
                return None
            raise

    def get_object_info(self, key: str, bucket_name: str | None = None) -> ObjectInfo | None:
        """Deprecated alias: ``head_object(key, bucket_name, missing_ok=True)``."""
        warnings.warn(
            "OSSMultipartHook.get_object_info is deprecated; use head_object(..., missing_ok=True)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.head_object(key, bucket_name, missing_ok=True)

    @_translating
    def list_object_entries(
        self, prefix: str | None = None, bucket_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object under ``prefix`` (all ListObjectsV2 pages): ``{"key", "size", "etag",
        "last_modified"}`` dicts."""
        return self.get_client().list_objects(self.get_bucket_name(bucket_name), prefix=prefix)

    # -- many objects (OSSUploadFilesOperator, OSSPlanUploadFilesOperator) -------------------
    @_translating
    def upload_files(
        self,
        source: Any,
        prefix: str = "",
        bucket_name: str | None = None,
        config: TransferConfig | None = None,
        options: ObjectOptions | None = None,
        **settings: Any,
    ):
        """Upload a directory, glob or remote prefix under ``prefix`` with one shared bound on
        requests and memory; returns a ``FilesReport``. ``config`` / ``options`` and the other
        keywords are those of :func:`oss_provider.transfer.files.upload_files`, merged once over
        the connection's defaults. A failed file raises after the others are done, retryable
        when its failure was."""
        from oss_provider.transfer.files import upload_files

        config, options, rest = self.transfer_inputs(config, options, settings)
        return upload_files(
            self.get_client(), self._bucket(bucket_name), self._source(source), config, options,
            prefix=prefix, **rest,
        )  # fmt: skip

    @_translating
    def plan_upload_files(
        self,
        source: Any,
        *,
        include: Any = None,
        exclude: Any = None,
        batches: int | None = None,
        max_batches: int | None = None,
    ) -> list[dict[str, Any]]:
        """Split the files of ``source`` into at most ``max_batches`` (1024) batches balanced by
        bytes: ``[{"batch", "files", "count", "bytes"}, ...]``."""
        from oss_provider.transfer import files
        from oss_provider.transfer.plan import MAX_BATCHES

        listed = files.stream_files(self._source(source), include=include, exclude=exclude)
        return files.plan_file_batches(
            listed.entries, batches=batches, max_batches=max_batches or MAX_BATCHES
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @_translating
    def ensure_abort_multipart_lifecycle(
        self,
        days: int,
        *,
        prefix: str = "",
        bucket_name: str | None = None,
        rule_id: str = DEFAULT_LIFECYCLE_RULE_ID,
    ) -> dict:
        """Make OSS itself abort uploads older than ``days``, keeping every other lifecycle rule.

        PutBucketLifecycle replaces all rules, so this reads, changes one rule, and writes back.
        """
        if int(days) < 1:
            raise ValueError("days must be at least 1")
        bucket = self.get_bucket_name(bucket_name)
        client = self.get_client()
        rules = client.get_bucket_lifecycle(bucket)
        wanted = {"id": rule_id, "prefix": prefix, "status": "Enabled",
                  "abort_multipart_upload_days": int(days), "_modified": True}  # fmt: skip
        current = next((r for r in rules if r.get("id") == rule_id), None)
        if (
            current
            and current.get("abort_multipart_upload_days") == int(days)
            and (current.get("prefix") or "") == prefix
            and current.get("status") == "Enabled"
        ):
            return {"bucket": bucket, "rule_id": rule_id, "changed": False, "rules": len(rules)}
        rules = [r for r in rules if r.get("id") != rule_id] + [wanted]
        client.put_bucket_lifecycle(bucket, rules)
        return {"bucket": bucket, "rule_id": rule_id, "changed": True, "rules": len(rules)}

    @_translating
    def abort_stale_uploads(self, bucket_name: str | None = None, **options: Any) -> CleanupReport:  # noqa: F821
        """Abort stale incomplete multipart uploads in the bucket (connection's by default).

        ``options`` are those of :func:`oss_provider.cleanup.abort_stale_uploads`
        (``older_than``, ``prefixes``, ``include``, ``exclude``, ``dry_run``, ``max_aborts``,
        ``skip_active`` (default True), ``active_within``, ``stop_event``, ...); bad ones raise
        ``ValueError``/``TypeError`` before any request. Per-upload failures are in the report.
        """
        from oss_provider.cleanup import abort_stale_uploads

        return abort_stale_uploads(self.get_client(), self.get_bucket_name(bucket_name), **options)

    # -- Airflow UI / CLI --------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """A cheap signed call; never raises."""
        try:
            settings = self.settings
            client = self.get_client()
            if settings.bucket_name:
                client.list_multipart_uploads(settings.bucket_name, max_uploads=1)
                return (
                    True,
                    f"Connected to {client.endpoint}; bucket {settings.bucket_name!r} is reachable",
                )
            # no bucket: a signed call on a bucket that cannot exist still checks the credentials
            try:
                client.list_multipart_uploads("oss-provider-connection-test", max_uploads=1)
            except OSSError as exc:
                if exc.code not in ("NoSuchBucket", "AccessDenied"):
                    raise
            return True, f"Connected to {client.endpoint}; credentials accepted"
        except OSSError as exc:
            return False, f"{exc.code}: {exc.hint or exc.message} (request id {exc.request_id})"
        except Exception as exc:  # noqa: BLE001 - the UI wants a message, not a traceback
            return False, f"{type(exc).__name__}: {exc}"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields of the connection form on Airflow 2.11-3.1 (3.2+ reads the provider
        info's ``conn-fields`` and never calls this)."""
        from oss_provider.hooks.connection_form import form_widgets

        return form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the form on Airflow 2.11-3.1."""
        from oss_provider.hooks.connection_form import field_behaviour

        return field_behaviour()
