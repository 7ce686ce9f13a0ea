"""OSSObjectTrigger: the deferrable half of ``OSSObjectSensor``, polled from the triggerer.

The client is ``requests``-based (blocking), so every look at OSS runs in a worker thread
(``asyncio.to_thread``) and the triggerer's event loop keeps serving its other triggers. The
trigger carries only JSON-able data: what to wait for, the connection id (never credentials),
the poll interval and the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from oss_provider._compat import AirflowFailException, BaseTrigger, TriggerEvent
from oss_provider.triggers.object_wait import ObjectWait, Outcome, check

CLASSPATH = "oss_provider.triggers.oss_object.OSSObjectTrigger"


class OSSObjectTrigger(BaseTrigger):
    """Fires once: ``{"status": "success", "value": <metadata>}`` when the wait is over,
    ``{"status": "timeout", "message": ...}`` at ``deadline`` (epoch seconds) with the last
    reason, or ``{"status": "error", "message": ...}`` on an error no retry can fix.

    :param wait: an :class:`ObjectWait` as a dict (``ObjectWait.to_dict()``)
    :param oss_conn_id: the ``oss_multipart`` connection, read inside the triggerer
    :param poke_interval: seconds between looks
    :param deadline: stop waiting at this UNIX time (None: wait until the task's own timeout)
    """

    def __init__(
        self,
        wait: dict[str, Any],
        oss_conn_id: str,
        poke_interval: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.wait = ObjectWait.from_dict(dict(wait))
        self.oss_conn_id = oss_conn_id
        self.poke_interval = float(poke_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self._hook = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "wait": self.wait.to_dict(),
                "oss_conn_id": self.oss_conn_id,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
            },
        )

    def _check(self) -> Outcome:
        """One blocking look at OSS (runs in a worker thread)."""
        if self._hook is None:
            from oss_provider.hooks.oss_multipart import OSSMultipartHook

            self._hook = OSSMultipartHook(oss_conn_id=self.oss_conn_id)
        return check(self._hook, self.wait)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        where = self.wait.describe()
        reason = f"{where}: not checked yet"
        while True:
            try:
                outcome = await asyncio.to_thread(self._check)
            except AirflowFailException as exc:  # permanent: bad bucket, credentials, arguments
                yield TriggerEvent({"status": "error", "message": str(exc)})
                return
            except Exception as exc:  # noqa: BLE001 - retryable: the client's budget ran out
                reason = f"{where}: last check failed ({exc})"
                self.log.warning("Checking %s failed, will look again: %s", where, exc)
            else:
                if outcome.done:
                    self.log.info("Found %s", where)
                    yield TriggerEvent({"status": "success", "value": outcome.value})
                    return
                reason = outcome.reason
                self.log.info("Waiting: %s", reason)
            pause = self.poke_interval
            if self.deadline is not None:
                left = self.deadline - time.time()
                if left <= 0:
                    yield TriggerEvent({"status": "timeout", "message": reason})
                    return
                pause = min(pause, left)
            await asyncio.sleep(pause)

    async def cleanup(self) -> None:
        hook, self._hook = self._hook, None
        client = getattr(hook, "_client", None) if hook is not None else None
        if client is not None:
            await asyncio.to_thread(client.close)
