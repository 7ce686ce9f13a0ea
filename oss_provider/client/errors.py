"""The one error taxonomy: every exception the client raises, and whether a retry can fix it.

Each class answers ``retryable`` (class attribute or per instance); every layer asks
:func:`is_retryable`, never its own list. The transport retries retryable answers within its
budget; the transfer engine re-sends a part only for :class:`IntegrityError` and short reads; the
hook turns retryable errors into ``AirflowException`` and the rest into ``AirflowFailException``.
Messages keep the OSS code and request id and never a secret.
"""

from __future__ import annotations

from typing import Any

# Codes that no retry can fix: fail at once.
PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidSecurityToken",
        "SecurityTokenExpired",
        "AccessKeyIdAndSecurityTokenNotMatch",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchUpload",
        "InvalidPart",
        "InvalidPartOrder",
        "EntityTooSmall",
        "EntityTooLarge",
        "InvalidDigest",
        "InvalidArgument",
        "InvalidObjectName",
        "InvalidBucketName",
        "MalformedXML",
        "FileAlreadyExists",
        "MethodNotAllowed",
    }
)

# Codes worth retrying (besides any 5xx and 429).
RETRYABLE_CODES = frozenset({"RequestTimeout", "InternalError", "ServiceUnavailable", "SlowDown"})


class OSSClientError(Exception):
    """Base of every error this package raises about OSS."""

    retryable: bool = False


def is_retryable(error: BaseException) -> bool:
    """Whether sending the same request again (or retrying the task) may succeed: the one
    classifier that the transport, the engine, the sweep, the hook (and so the sensor and the
    trigger) all ask."""
    return isinstance(error, OSSClientError) and bool(error.retryable)


def retryable_status(status: int) -> bool:
    """A 5xx or 429 answer, whatever its body says: the service or the path to it is failing."""
    return status >= 500 or status == 429


class OSSError(OSSClientError):
    """An error answer from OSS: HTTP status, OSS ``Code``, ``Message``, request id and ``EC``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str = "",
        request_id: str | None = None,
        ec: str | None = None,
        *,
        host_id: str | None = None,
        details: dict[str, Any] | None = None,
        operation: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.ec = ec
        self.host_id = host_id
        self.details = dict(details or {})
        self.operation = operation
        self.hint = hint
        super().__init__(str(self))

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """False for a code in :data:`PERMANENT_CODES` whatever the status; else True for a 5xx,
        a 429 or a code in :data:`RETRYABLE_CODES`."""
        if self.code in PERMANENT_CODES:
            return False
        return retryable_status(self.status) or self.code in RETRYABLE_CODES

    def __str__(self) -> str:
        head = f"{self.code} (HTTP {self.status})"
        if self.operation:
            head = f"{self.operation} failed: {head}"
        text = f"{head}: {self.message}" if self.message else head
        if self.hint:
            text += f" {self.hint}"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        if self.ec:
            text += f" [EC {self.ec}]"
        return text

    def __reduce__(self):  # keep pickling (multiprocessing, Airflow) working with kw-only args
        return (_rebuild_oss_error, (type(self), self.__dict__.copy()))


def _rebuild_oss_error(cls: type, state: dict[str, Any]) -> OSSError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, str(error))
    return error


class NoSuchUpload(OSSError):
    """404 NoSuchUpload: the upload was completed or aborted, or its id belongs to another
    key; permanent, start a new upload."""


class NoSuchBucket(OSSError):
    """404 NoSuchBucket: no such bucket, or the endpoint is not in the bucket's region;
    permanent."""


class NoSuchKey(OSSError):
    """404 NoSuchKey: no object at the key (HeadObject, GetObject, a copy source); callers
    probing for an object catch it."""


class InvalidPart(OSSError):
    """400 InvalidPart at Complete: a listed part was never uploaded or its ETag differs
    (another writer replaced it); permanent."""


class InvalidPartOrder(OSSError):
    """400 InvalidPartOrder at Complete: part numbers not strictly ascending or outside
    1..10000; permanent."""


class EntityTooSmall(OSSError):
    """400 EntityTooSmall at Complete: a part other than the last is under 100 KiB; use a
    larger part size."""


class InvalidDigest(OSSError):
    """400 InvalidDigest: the body did not match its Content-MD5 (damaged on the way); the
    transport does not retry it, the engine re-reads and re-sends the part."""


class FileAlreadyExists(OSSError):
    """The key holds an object and the write asked not to replace one (``forbid_overwrite``)."""

    @classmethod
    def refused(cls, where: str) -> FileAlreadyExists:
        """The one message for a write ``forbid_overwrite`` stopped, saying the ways out."""
        return cls(
            409,
            "FileAlreadyExists",
            f"{where} already exists and forbid_overwrite is set; nothing was replaced. Upload "
            "to another key, delete the object first, or drop forbid_overwrite",
        )


class AuthError(OSSError):
    """Credentials problems: wrong secret, unknown key, bad or expired STS token, clock skew."""


class SignatureDoesNotMatch(AuthError):
    """403 SignatureDoesNotMatch: a wrong AccessKey secret, or (V4) a region that does not
    match the endpoint; fix the connection."""


class InvalidAccessKeyId(AuthError):
    """403 InvalidAccessKeyId: the AccessKey ID is unknown or disabled; fix the connection."""


class SecurityTokenExpired(AuthError):
    """403 SecurityTokenExpired: the STS token ran out; refresh the temporary credentials."""


class InvalidSecurityToken(AuthError):
    """403 InvalidSecurityToken, or AccessKeyIdAndSecurityTokenNotMatch: the STS token is
    bad or was issued for another AccessKey ID; refresh the temporary credentials."""


class RequestTimeTooSkewed(AuthError):
    """403 RequestTimeTooSkewed: this machine's clock is more than 15 minutes off OSS's;
    no retry helps until it is synced."""


class AccessDenied(AuthError):
    """403 AccessDenied: the credentials lack permission (RAM or bucket policy), or a
    presigned URL expired; permanent."""


ERROR_CLASSES: dict[str, type[OSSError]] = {
    "NoSuchUpload": NoSuchUpload,
    "NoSuchBucket": NoSuchBucket,
    "NoSuchKey": NoSuchKey,
    "InvalidPart": InvalidPart,
    "InvalidPartOrder": InvalidPartOrder,
    "EntityTooSmall": EntityTooSmall,
    "InvalidDigest": InvalidDigest,
    "FileAlreadyExists": FileAlreadyExists,
    "SignatureDoesNotMatch": SignatureDoesNotMatch,
    "InvalidAccessKeyId": InvalidAccessKeyId,
    "SecurityTokenExpired": SecurityTokenExpired,
    "InvalidSecurityToken": InvalidSecurityToken,
    "AccessKeyIdAndSecurityTokenNotMatch": InvalidSecurityToken,
    "RequestTimeTooSkewed": RequestTimeTooSkewed,
    "AccessDenied": AccessDenied,
}


def error_class_for(code: str) -> type[OSSError]:
    """The most specific exception class for an OSS error code."""
    return ERROR_CLASSES.get(code, OSSError)


class OSSTransportError(OSSClientError):
    """No usable HTTP answer: connection refused/reset, timeout, TLS failure (after retries).

    ``maybe_applied`` is False only when the request provably never reached the server (the
    connection was never made); then even a non-idempotent request may be sent again.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        retryable: bool = True,
        maybe_applied: bool = True,
    ):
        self.operation = operation
        self.retryable = retryable
        self.maybe_applied = maybe_applied
        super().__init__(f"{operation} failed: {message}" if operation else message)

    def __reduce__(self):
        return (_rebuild_plain, (type(self), self.__dict__.copy(), str(self)))


def _rebuild_plain(cls: type, state: dict[str, Any], text: str) -> OSSClientError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, text)
    return error


class MalformedResponseError(OSSClientError):
    """A 2xx answer whose body is not the OSS XML it should be (cut short by a proxy or a reset).

    Retryable: a safe request is sent again; an unsafe one (Complete) is confirmed instead.
    """

    retryable = True


class AmbiguousResultError(OSSClientError):
    """A non-idempotent request (Initiate, Complete) may or may not have taken effect and the
    client could not find out which; the message says what to check."""

    retryable = True


class RetriesExhaustedError(OSSClientError):
    """A request failed on every send the retry policy allows; keeps the last error."""

    def __init__(self, message: str, *, last: BaseException, sends: int, seconds: float):
        self.last = last
        self.sends = sends
        self.seconds = seconds
        self.retryable = True  # a later task try may find the service healthy again
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_plain, (type(self), self.__dict__.copy(), str(self)))


class OSSResponseError(OSSClientError):
    """An answer that is not OSS at all (an HTML page from a proxy, a wrong endpoint).

    Retryable when its status is: a load balancer's or proxy's 502/503/504 page or a 429 is
    the path to OSS failing for a while, whatever the body; a 4xx page is a wrong endpoint."""

    def __init__(self, status: int, snippet: str, *, operation: str | None = None):
        self.status = status
        self.snippet = snippet
        self.operation = operation
        where = f"{operation}: " if operation else ""
        if retryable_status(status):
            advice = "A proxy or load balancer on the way to OSS failed; it is retried."
        else:
            advice = "Check that the connection's endpoint is an OSS endpoint."
        super().__init__(
            f"{where}the endpoint answered HTTP {status} with a body that is not OSS XML "
            f"(first bytes: {snippet!r}). {advice}"
        )

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """True for a 5xx or 429 page (a failing proxy), False for a 4xx (a wrong endpoint)."""
        return retryable_status(self.status)


class IntegrityError(OSSClientError):
    """A checksum the server reported differs from the one computed locally: data was not stored
    intact. Retryable: the engine re-reads the source and sends the part again."""

    retryable = True


class SourceChangedError(OSSClientError):
    """The source changed (size, mtime or ETag) while it was being uploaded: re-plan; a retry of
    the same plan cannot succeed."""


class UploadOwnershipError(OSSClientError):
    """The upload this writer was using is gone or another writer's object replaced the result;
    retryable: a new try starts or finds its own upload."""

    retryable = True


class OverlappingTryError(OSSClientError):
    """Another run of the same writer (another try of the same task: a zombie beside its retry)
    is writing this writer's upload at the same time and replaced parts of it with other bytes,
    so Complete was refused (InvalidPart). Retryable: this try stops without completing or
    aborting the upload, and the next try resumes it (keeping the parts that match its source)."""

    retryable = True


class ShortReadError(OSSClientError):
    """The source returned fewer bytes than the part needs (re-read, then SourceChangedError)."""


class SourceIsADirectoryError(IsADirectoryError, ValueError):
    """A directory given as ``source``: both an ``IsADirectoryError`` and a ``ValueError``."""


class WriterAborted(Exception):
    """Raised into the upload engine when the writer gives up (an error while writing, or dropped
    without ``close()``), so that it aborts the upload: nothing is stored."""


class FilesUploadError(OSSClientError):
    """Some files of a set could not be uploaded; ``report`` (a ``FilesReport``) says which and
    why. Retryable when every failure was transient (5xx, timeouts, a reset)."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report
        self.retryable = report.retryable


class ListingError(RuntimeError):
    """A listing cannot be trusted (pagination markers that do not advance): the sweep stops
    rather than loop or skip uploads."""


__all__ = [
    "AccessDenied",
    "AmbiguousResultError",
    "AuthError",
    "EntityTooSmall",
    "FileAlreadyExists",
    "FilesUploadError",
    "IntegrityError",
    "InvalidAccessKeyId",
    "InvalidDigest",
    "InvalidPart",
    "InvalidPartOrder",
    "InvalidSecurityToken",
    "ListingError",
    "MalformedResponseError",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "OSSClientError",
    "OSSError",
    "OSSResponseError",
    "OSSTransportError",
    "OverlappingTryError",
    "RequestTimeTooSkewed",
    "RetriesExhaustedError",
    "SecurityTokenExpired",
    "ShortReadError",
    "SignatureDoesNotMatch",
    "SourceChangedError",
    "SourceIsADirectoryError",
    "UploadOwnershipError",
    "WriterAborted",
    "error_class_for",
    "is_retryable",
    "retryable_status",
]
