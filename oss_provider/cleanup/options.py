"""The sweep's arguments: ``older_than`` durations, prefixes, include/exclude globs, CleanupOptions.

Everything here is checked before the first request: bad input raises ``ValueError`` (a bad value)
or ``TypeError`` (a bad type), and the message names the argument and the accepted forms, so a
caller (the operator) can fail at once instead of retrying.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from oss_provider.client.limits import MAX_LIST_PAGE
from oss_provider.globs import selected

DEFAULT_OLDER_THAN = timedelta(hours=24)
DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_ROWS = 500
DEFAULT_RETRIES = 0  # the client's retry policy already retries every request
DEFAULT_SKIP_ACTIVE = True
MAX_CONCURRENCY = 256
# The longest age accepted: far beyond any upload's life, far below timedelta's own limit.
MAX_OLDER_THAN = timedelta(days=36_525)  # 100 years
_MAX_SECONDS = MAX_OLDER_THAN.total_seconds()

_UNITS = {
    "w": 604_800,
    "week": 604_800,
    "weeks": 604_800,
    "d": 86_400,
    "day": 86_400,
    "days": 86_400,
    "h": 3_600,
    "hr": 3_600,
    "hrs": 3_600,
    "hour": 3_600,
    "hours": 3_600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_TERM = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?")

# Sequence types accepted for prefixes and globs: ordered, finite, and never a mapping.
_SEQUENCES = (list, tuple)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _duration_error(value: object, why: str = "", name: str = "older_than") -> ValueError:
    return ValueError(
        f"{name}={_show(value)} is not a usable age{': ' + why if why else ''}. Use a timedelta, a "
        "pendulum Duration, a number of seconds, an ISO-8601 duration such as 'P7D', or a string "
        "such as '24h', '7d', '90m' or '1d12h' (units w, d, h, m, s); it must be positive, "
        "finite and at most 100 years."
    )


def parse_older_than(value: object, name: str = "older_than") -> timedelta:
    """Turn ``older_than`` into a positive ``timedelta``; ``None`` means the 24-hour default.

    Accepts a ``timedelta`` (a pendulum ``Duration`` is one), a number of seconds, a numeric string,
    an ISO-8601 duration (``"P7D"``, ``"PT36H"``) or unit strings like ``"24h"``, ``"7d"``,
    ``"1d12h"``, ``"2 days 3 hours"``. The result is finite, positive and at most
    :data:`MAX_OLDER_THAN` (100 years); anything else raises ``ValueError`` naming ``name``.
    """
    if value is None:
        return DEFAULT_OLDER_THAN
    if isinstance(value, bool):
        raise _duration_error(value, name=name)
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int):
        # compared as an int first: a huge int would overflow float() or timedelta()
        if value > _MAX_SECONDS:
            raise _duration_error(value, "it is longer than 100 years", name)
        seconds = float(value)
    elif isinstance(value, float):
        seconds = value
    elif isinstance(value, str):
        seconds = _parse_duration_text(value, name)
    else:
        raise _duration_error(value, f"unsupported type {type(value).__name__}", name)
    if math.isnan(seconds):
        raise _duration_error(value, "it is not a number", name)
    if math.isinf(seconds) and seconds > 0:
        raise _duration_error(value, "it is infinite", name)
    if seconds > _MAX_SECONDS:
        raise _duration_error(value, "it is longer than 100 years", name)
    if seconds <= 0:
        raise _duration_error(
            value,
            "it must be positive (a zero age would abort uploads being written right now)",
            name,
        )
    return timedelta(seconds=seconds)


def _parse_duration_text(value: str, name: str) -> float:
    """Seconds in a duration string (may be inf/huge: the caller checks the range)."""
    text = value.strip().lower()
    if not text:
        raise _duration_error(value, "it is empty", name)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if text.startswith("p"):
        import pendulum

        try:
            parsed = pendulum.parse(text.upper())
        except Exception as exc:  # noqa: BLE001 - pendulum raises its own ParserError, Overflow...
            raise _duration_error(value, str(exc), name) from None
        if not isinstance(parsed, timedelta):
            raise _duration_error(value, "it is a date, not a duration", name)
        return parsed.total_seconds()
    seconds = 0.0
    pos = 0
    while pos < len(text):
        match = _TERM.match(text, pos)
        if not match or match.group(2) not in _UNITS:
            raise _duration_error(value, name=name)
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return seconds


def _string_list(value: object, name: str, what: str) -> tuple[str, ...]:
    """A tuple of strings from ``None``, one string, or a list/tuple of strings; else TypeError."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, _SEQUENCES):
        for item in value:
            if not isinstance(item, str):
                raise TypeError(
                    f"{name} must be a string or a list/tuple of strings ({what}); the item "
                    f"{item!r} ({type(item).__name__}) is not a string"
                )
        return tuple(value)
    example = (
        "'logs/' or ['logs/', 'tmp/']" if name == "prefixes" else "'*.csv' or ['*.csv', 'tmp/*']"
    )
    raise TypeError(
        f"{name} must be a string or a list/tuple of strings ({what}), got {value!r} "
        f"({type(value).__name__}); e.g. {name}={example}"
    )


def _as_patterns(value: object, name: str) -> tuple[str, ...]:
    """Glob patterns for ``include``/``exclude``; empty strings are dropped."""
    return tuple(p for p in _string_list(value, name, "glob patterns") if p)


def normalize_prefixes(prefixes: object) -> tuple[str, ...]:
    """Sorted prefixes with the ones covered by a shorter prefix dropped (no upload counted twice).

    ``None``, ``""`` or an empty list mean the whole bucket (``("",)``). Only a string or a
    list/tuple of strings is accepted (``TypeError`` otherwise).
    """
    items = _string_list(prefixes, "prefixes", "key prefixes")
    if not items or "" in items:
        return ("",)
    kept: list[str] = []
    for prefix in sorted(set(items)):
        if not any(prefix.startswith(k) for k in kept):
            kept.append(prefix)
    return tuple(kept)


def key_selected(key: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """The include / exclude filter on a key, by the package's one glob rule
    (:mod:`oss_provider.globs`: a pattern without ``/`` matches the key's last segment)."""
    return selected(key, include, exclude)


def _whole_number(name: str, value: object, low: int, high: int | None, hint: str) -> int:
    """``value`` as an int in ``[low, high]``; a ValueError naming ``name`` otherwise."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None or number < low or (high is not None and number > high):
        raise ValueError(f"{name} must be {hint}, got {value!r}")
    return number


def _number(name: str, value: object, hint: str) -> float:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        return float(value)
    raise ValueError(f"{name} must be {hint}, got {value!r}")


@dataclass(frozen=True)
class CleanupOptions:
    """Validated settings of one sweep (see :func:`abort_stale_uploads` for their meaning).

    Build them with :meth:`build`, which checks every argument; the defaults are the safe ones:
    24 hours, and ``skip_active=True`` (an old upload that received a part within ``older_than``,
    or ``active_within``, is being resumed and is kept).
    """

    prefixes: tuple[str, ...] = ("",)
    older_than: timedelta = DEFAULT_OLDER_THAN
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    dry_run: bool = False
    max_aborts: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    skip_active: bool = DEFAULT_SKIP_ACTIVE
    active_within: timedelta | None = None
    list_parts: bool = False
    page_size: int = MAX_LIST_PAGE
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = 0.2
    max_rows: int = DEFAULT_MAX_ROWS

    @classmethod
    def build(
        cls,
        *,
        prefixes: str | Iterable[str] | None = None,
        older_than: object = None,
        include: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        dry_run: bool = False,
        max_aborts: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        skip_active: bool = DEFAULT_SKIP_ACTIVE,
        active_within: object = None,
        list_parts: bool = False,
        page_size: int = MAX_LIST_PAGE,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = 0.2,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> CleanupOptions:
        """Parse and check every argument; bad input raises ``ValueError``/``TypeError`` naming
        the argument and how to fix it.

        :param prefixes: a key prefix or a list/tuple of them (``None``/``""``: the whole bucket);
            overlapping ones are merged so no upload is counted twice.
        :param older_than: minimum age since ``Initiated`` by the server's clock (strictly older is
            stale; an upload initiated within it is never aborted); default 24 h. A ``timedelta``, a
            pendulum ``Duration``, seconds, ``"P7D"`` or ``"24h"``/``"7d"``/``"1d12h"``; positive,
            finite, at most 100 years.
        :param include: a glob pattern or a list/tuple of them; when given, the key must match one.
        :param exclude: a glob pattern or a list/tuple of them; a matching key is left alone.
        :param dry_run: list and decide, but abort nothing (``would_abort`` counts what would go).
        :param max_aborts: at most this many abort requests (the rest count as ``skipped_max_aborts``).
        :param concurrency: parallel requests (thread pool; at most twice this many queued).
        :param skip_active: (default True) list the parts of each stale upload and keep it when its
            newest part is younger than ``active_within`` (default: ``older_than``): an old upload
            being resumed right now is not cut off. Costs one ListParts per stale upload and also
            reports the bytes freed. ``False`` aborts by ``Initiated`` alone.
        :param active_within: how recent the newest part must be for the upload to count as active.
        :param list_parts: list parts to report the bytes freed even without ``skip_active``.
        :param retries: extra sweep-level attempts after the client's retry policy gave up (default
            0: one retry policy, in the transport; raise it only for a flaky proxy).
        :param max_rows: per-upload rows kept in the report (failed ones first); counts stay complete.
        """
        for flag_name, flag in (
            ("dry_run", dry_run),
            ("skip_active", skip_active),
            ("list_parts", list_parts),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{flag_name} must be True or False, got {flag!r}")
        if max_aborts is not None:
            max_aborts = _whole_number(
                "max_aborts", max_aborts, 0, None, "None (no cap) or a whole number >= 0"
            )
        return cls(
            prefixes=normalize_prefixes(prefixes),
            older_than=parse_older_than(older_than),
            include=_as_patterns(include, "include"),
            exclude=_as_patterns(exclude, "exclude"),
            dry_run=dry_run,
            max_aborts=max_aborts,
            concurrency=_whole_number(
                "concurrency",
                concurrency,
                1,
                MAX_CONCURRENCY,
                f"a whole number between 1 and {MAX_CONCURRENCY}",
            ),
            skip_active=skip_active,
            active_within=None
            if active_within is None
            else parse_older_than(active_within, "active_within"),
            list_parts=list_parts,
            page_size=_whole_number(
                "page_size",
                page_size,
                1,
                MAX_LIST_PAGE,
                f"a whole number between 1 and {MAX_LIST_PAGE}",
            ),
            retries=_whole_number("retries", retries, 0, 100, "a whole number from 0 to 100"),
            retry_backoff=_number("retry_backoff", retry_backoff, "a number of seconds >= 0"),
            max_rows=_whole_number("max_rows", max_rows, 0, None, "a whole number >= 0"),
        )

    @property
    def needs_parts(self) -> bool:
        return self.skip_active or self.list_parts

    @property
    def active_threshold(self) -> timedelta:
        return self.active_within or self.older_than
