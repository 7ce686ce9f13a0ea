"""A total deadline per request, enforced on the socket.

``requests``' read timeout bounds each socket read, not the request: a peer that sends one byte
every 50 ms (or accepts the body that slowly) keeps a request alive forever. Every send therefore
registers its connection with one watchdog thread per process; when the request's deadline
passes, the watchdog shuts the socket down, the blocked send or read fails at once, and the
transport reports that the deadline ran out. One heap and one condition variable, so the cost
per request is a lock and a heap push, whatever the number of requests in flight.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Watch:
    """One request's registration: its deadline, the connection it runs on, whether it expired."""

    __slots__ = ("conn", "deadline", "done", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: Any = None
        self.expired = False
        self.done = False


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._live = 0

    def watch(self, deadline: float) -> Watch:
        item = Watch(deadline)
        with self._lock:
            self._live += 1
            if len(self._heap) > 1024 and len(self._heap) > 4 * self._live:
                # finished requests wait in the heap behind a long one (a big part): drop them,
                # so the heap stays the size of what is in flight, however many files go by
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (deadline, next(self._ids), item))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="oss-request-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is item:
                self._lock.notify()
        return item

    def attach(self, item: Watch, conn: Any) -> None:
        """``conn`` now carries ``item``'s request (set when the request is written)."""
        with self._lock:
            item.conn = conn
            conn._oss_watch = item
            if item.expired:  # the deadline passed before the request was even written
                _shut(conn)

    def release(self, item: Watch) -> None:
        with self._lock:
            if not item.done:
                self._live -= 1
            item.done = True
            if item.conn is not None and getattr(item.conn, "_oss_watch", None) is item:
                item.conn._oss_watch = None
            item.conn = None

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                _, _, item = heapq.heappop(self._heap)
                item.expired = True
                conn = item.conn
                if conn is not None and getattr(conn, "_oss_watch", None) is item:
                    _shut(conn)

    def reset_after_fork(self) -> None:
        self._lock = threading.Condition()
        self._heap = []
        self._thread = None
        self._live = 0

    def size(self) -> int:
        """Entries held (in flight, or finished and not yet dropped): for tests."""
        with self._lock:
            return len(self._heap)


def _shut(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.reset_after_fork)


class Deadline:
    """``with Deadline(at) as watch:`` runs one send under the deadline ``at`` (monotonic);
    ``watch.expired`` tells afterwards whether the watchdog cut it."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.watch: Watch | None = None

    def __enter__(self) -> Watch:
        self.watch = WATCHDOG.watch(self.at)
        _current.watch = self.watch
        return self.watch

    def __exit__(self, *exc: object) -> None:
        _current.watch = None
        if self.watch is not None:
            WATCHDOG.release(self.watch)


class _DeadlineConnectionMixin:
    """Hands the connection to the current thread's watch before the request is written."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        item = getattr(_current, "watch", None)
        if item is not None:
            WATCHDOG.attach(item, self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class DeadlineHTTPConnection(_DeadlineConnectionMixin, HTTPConnection):
    """urllib3's HTTP connection, handed to the thread's :class:`Deadline` before each request."""


class DeadlineHTTPSConnection(_DeadlineConnectionMixin, HTTPSConnection):
    """urllib3's HTTPS connection, handed to the thread's :class:`Deadline` before each request."""


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    """An HTTP pool whose connections obey the request deadline (see :data:`POOL_CLASSES`)."""

    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    """An HTTPS pool whose connections obey the request deadline (see :data:`POOL_CLASSES`)."""

    ConnectionCls = DeadlineHTTPSConnection


POOL_CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}
