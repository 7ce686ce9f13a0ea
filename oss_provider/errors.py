"""Every exception this provider raises, in one tree, importable from one place.

- The OSS protocol and engine errors (no Airflow import) live in
  :mod:`oss_provider.client.errors` and are re-exported here: :class:`OSSClientError` and its
  subclasses, with :func:`is_retryable`, the one retry classifier.
- The errors an Airflow task sees are defined here: :class:`OSSHookError` (Airflow may retry the
  task) and :class:`OSSPermanentError` (it fails at once), into which the hook translates every
  client error, and :class:`AirflowVersionError` for a feature the installed Airflow lacks.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from oss_provider.client.errors import *
from oss_provider.client.errors import __all__ as _client_errors


class OSSHookError(AirflowException):
    """An OSS failure Airflow may retry; keeps the OSS code, status and request id."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 request_id: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.code = code
        self.status = status
        self.request_id = request_id


class OSSPermanentError(OSSHookError, AirflowFailException):
    """An OSS failure no retry can fix (bad credentials, missing bucket, invalid part): fail now."""


class AirflowVersionError(AirflowException):
    """A feature of this provider needs a newer Airflow than the one installed."""


__all__ = ["AirflowVersionError", "OSSHookError", "OSSPermanentError", *_client_errors]  # noqa: PLE0604
