"""Fault injection: queued "fail the next N calls" rules and seeded random faults, plus latency.

Kinds: ``503`` (SlowDown), ``500`` (InternalError), ``reset`` (connection reset in the middle of
the request or response body), ``slow`` (answer after a delay), ``lose_complete_response``
(the operation takes effect, then the connection drops before the answer; ``lose_response`` is
the same for any operation), ``garbled`` (the operation takes effect and answers 200, but the XML
body is cut short, as a broken proxy would), or any OSS error code.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .errors import CATALOGUE

KINDS = ("503", "500", "reset", "slow", "lose_complete_response", "lose_response", "garbled")
RANDOM_KINDS = ("503", "500", "reset", "slow")


@dataclass
class Fault:
    kind: str
    operation: str | None = None
    delay_seconds: float = 2.0


@dataclass
class _Rule:
    remaining: int
    fault: Fault


def validate_kind(kind: str) -> None:
    if kind not in KINDS and kind not in CATALOGUE:
        raise ValueError(
            f"unknown fault kind {kind!r}: use one of {', '.join(KINDS)} or an OSS error code "
            f"such as InternalError"
        )


class FaultInjector:
    """Decides, per request, whether to misbehave; deterministic for a given seed."""

    def __init__(self, rate: float = 0.0, seed: int | None = None, latency_ms: float = 0.0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        self.rate = rate
        self.latency_ms = latency_ms
        self._random = random.Random(seed)
        self.rate_operation: str | None = None
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.injected = 0

    def fail_next(
        self, count: int, kind: str, operation: str | None = None, delay_seconds: float = 2.0
    ) -> None:
        """Make the next ``count`` calls of ``operation`` (any operation when None) fail."""
        validate_kind(kind)
        if count < 0:
            raise ValueError(f"fail_next count must be >= 0, got {count}")
        with self._lock:
            if count:
                self._rules.append(_Rule(count, Fault(kind, operation, delay_seconds)))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def set_rate(self, rate: float, seed: int | None = None, operation: str | None = None) -> None:
        """Change the random fault rate while serving (tests raise it, then put it back);
        ``operation`` limits the random faults to that one operation."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        with self._lock:
            self.rate = rate
            self.rate_operation = operation
            if seed is not None:
                self._random = random.Random(seed)

    def pending(self) -> int:
        with self._lock:
            return sum(r.remaining for r in self._rules)

    def pick(self, operation: str) -> Fault | None:
        """The fault for this request, if any (queued rules first, then the random rate)."""
        with self._lock:
            for rule in self._rules:
                if rule.fault.operation in (None, operation):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    self.injected += 1
                    return rule.fault
            if (
                self.rate
                and self.rate_operation in (None, operation)
                and self._random.random() < self.rate
            ):
                kinds = RANDOM_KINDS + (
                    ("lose_complete_response",) if operation == "CompleteMultipartUpload" else ()
                )
                self.injected += 1
                return Fault(self._random.choice(kinds), operation)
        return None
