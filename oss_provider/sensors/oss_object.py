"""OSSObjectSensor: wait for an OSS object (or enough objects under a glob or prefix).

Poke and reschedule modes look at OSS from the worker; ``deferrable=True`` hands the waiting
to :class:`~oss_provider.triggers.oss_object.OSSObjectTrigger` in the triggerer, which frees the
worker slot. All modes decide with the same check and push the same XCom.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from oss_provider._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from oss_provider.operators._copying import RuntimeStateNotCopied
from oss_provider.triggers.object_wait import ObjectWait, build_wait, check, check_shape

if TYPE_CHECKING:
    from oss_provider._compat import Context
    from oss_provider.hooks.oss_multipart import OSSMultipartHook

DEFAULT_CONN_ID = "oss_multipart_default"


def _default_deferrable() -> bool:
    try:
        return conf.getboolean("operators", "default_deferrable", fallback=False)
    except Exception:  # noqa: BLE001 - no config: not deferrable
        return False


class OSSObjectSensor(RuntimeStateNotCopied, BaseSensorOperator):
    """Wait until an object exists in OSS, optionally with a given size, CRC-64 or ETag.

    Returns (XCom) the object's metadata ``{"bucket", "key", "size", "etag", "crc64",
    "last_modified"}`` (``last_modified`` as ISO 8601 text); for a glob or prefix, the list of
    matching objects in key order (``crc64`` is None there: listings do not carry it).

    A size / CRC-64 / ETag that does not match yet keeps the sensor waiting (an object may be
    replaced); at ``timeout`` the task fails with the last thing it saw.

    :param key: object key, ``oss://bucket/key``, or with ``wildcard_match=True`` a glob such as
        ``exports/2026-*/part-*.csv`` (templated)
    :param prefix: instead of ``key``: any object under this prefix (templated)
    :param bucket_name: bucket; default the one in ``key``/``prefix`` or the connection's
        (templated)
    :param wildcard_match: treat ``key`` as an ``fnmatch`` glob
    :param min_objects: with a glob or prefix, how many objects must exist (templated)
    :param expected_size: with one key, the size in bytes it must have (templated)
    :param expected_crc64: with one key, its CRC-64/ECMA as OSS reports it
        (``x-oss-hash-crc64ecma``, unsigned decimal) (templated)
    :param expected_etag: with one key, its ETag (quotes and case ignored) (templated)
    :param deferrable: wait in the triggerer instead of a worker slot (default
        ``[operators] default_deferrable``)
    :param oss_conn_id: Airflow connection of type ``oss_multipart`` (templated)

    ``poke_interval``, ``timeout``, ``mode``, ``soft_fail``, ``exponential_backoff`` are those
    of ``BaseSensorOperator``.
    """

    template_fields: Sequence[str] = (
        "key",
        "prefix",
        "bucket_name",
        "min_objects",
        "expected_size",
        "expected_crc64",
        "expected_etag",
        "oss_conn_id",
    )
    ui_color = "#ff6a00"

    def __init__(
        self,
        *,
        key: str | None = None,
        prefix: str | None = None,
        bucket_name: str | None = None,
        wildcard_match: bool = False,
        min_objects: int | str = 1,
        expected_size: int | str | None = None,
        expected_crc64: int | str | None = None,
        expected_etag: str | None = None,
        deferrable: bool | None = None,
        oss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_shape(key=key, prefix=prefix, wildcard_match=wildcard_match)
        self.key = key
        self.prefix = prefix
        self.bucket_name = bucket_name
        self.wildcard_match = wildcard_match
        self.min_objects = min_objects
        self.expected_size = expected_size
        self.expected_crc64 = expected_crc64
        self.expected_etag = expected_etag
        self.deferrable = _default_deferrable() if deferrable is None else bool(deferrable)
        self.oss_conn_id = oss_conn_id
        self._reason = ""

    runtime_attrs = ("hook", "object_wait")

    @cached_property
    def hook(self) -> OSSMultipartHook:
        from oss_provider.hooks.oss_multipart import OSSMultipartHook

        return OSSMultipartHook(oss_conn_id=self.oss_conn_id)

    @cached_property
    def object_wait(self) -> ObjectWait:
        """The rendered arguments, validated; bad ones fail the task at once, without retry."""
        try:
            return build_wait(
                self.hook,
                key=self.key,
                prefix=self.prefix,
                bucket_name=self.bucket_name,
                wildcard_match=self.wildcard_match,
                min_objects=self.min_objects,
                expected_size=self.expected_size,
                expected_crc64=self.expected_crc64,
                expected_etag=self.expected_etag,
            )
        except (ValueError, TypeError) as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from exc

    # -- poke / reschedule -----------------------------------------------------------------
    def poke(self, context: Context) -> bool | PokeReturnValue:
        try:
            outcome = check(self.hook, self.object_wait)
        except AirflowFailException:
            raise
        except AirflowException as exc:  # retryable, and the client's own retries ran out
            self._reason = f"{self.object_wait.describe()}: last check failed ({exc})"
            self.log.warning(
                "Checking %s failed, will look again: %s", self.object_wait.describe(), exc
            )
            return False
        if outcome.done:
            self.log.info("Found %s", self.object_wait.describe())
            return PokeReturnValue(is_done=True, xcom_value=outcome.value)
        self._reason = outcome.reason
        self.log.info("Waiting: %s", outcome.reason)
        return False

    def execute(self, context: Context) -> Any:
        wait = self.object_wait  # validate before the first request
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                raise AirflowSensorTimeout(f"{exc} {self._reason or wait.describe()}") from exc
        found = self.poke(context)  # often already there: no need to defer at all
        if found:
            return found.xcom_value
        self.defer(
            trigger=self._trigger(),
            method_name="execute_complete",
            # the trigger reports the timeout itself, with the reason; this is the backstop
            timeout=timedelta(seconds=self.timeout + max(60.0, 2 * self.poke_interval)),
        )

    # -- deferrable ------------------------------------------------------------------------
    def _trigger(self):
        from oss_provider.triggers.oss_object import OSSObjectTrigger

        return OSSObjectTrigger(
            wait=self.object_wait.to_dict(),
            oss_conn_id=self.oss_conn_id,
            poke_interval=self.poke_interval,
            deadline=time.time() + self.timeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: the metadata on success, else fail with its words."""
        event = event or {}
        status = event.get("status")
        if status == "success":
            self.log.info("Found %s (from the triggerer)", self.object_wait.describe())
            return event.get("value")
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"Sensor has timed out after {self.timeout} s: {event.get('message')}"
            )
        where = self.object_wait.describe()
        message = str(event.get("message", event)).removeprefix(f"{where}: ")  # said once
        raise AirflowFailException(f"{self.task_id}: waiting for {where} failed: {message}")


__all__ = ["OSSObjectSensor"]
