"""How sizes and durations read in logs, reports and error messages: the one formatter of each."""

from __future__ import annotations

_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def format_bytes(n: float | None, *, exact: bool = False) -> str:
    """Binary units, matching the MiB/s rates: ``512 B``, ``100.0 KiB``, ``1.5 GiB``; ``exact``
    adds the byte count (``8,388,608 B (8.0 MiB)``) where a user compares it with a limit."""
    if n is None:
        return "unknown"
    short = f"{int(n)} B"
    for unit, scale in _UNITS:
        if n >= scale:
            short = f"{n / scale:.1f} {unit}"
            break
    if exact and n >= 1024:
        return f"{int(n):,} B ({short})"
    return short


def format_duration(seconds: float | None) -> str:
    """``h:mm:ss``, or ``unknown``."""
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
