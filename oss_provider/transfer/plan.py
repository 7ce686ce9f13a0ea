"""Planning: which byte ranges become which parts, and how parts group into mapped batches.

Pure arithmetic, no I/O. The whole-upload engine plans at most 9,998 data parts, keeping parts
9,999 and 10,000 for the upload's owner and options records (see :mod:`oss_provider.transfer.ownership`); a mapped upload
(upload id passed in XCom, no owner record) may use all 10,000.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from oss_provider.client.limits import MAX_PART_SIZE, MAX_PARTS
from oss_provider.client.validation import validate_part_size
from oss_provider.transfer.config import DEFAULT_PART_SIZE, MiB, TransferConfig
from oss_provider.units import format_bytes

MAX_BATCHES = 1024  # Airflow's default [core] max_map_length
MAX_DATA_PARTS = MAX_PARTS - 2  # parts 9,999 and 10,000 hold a whole upload's records
MAX_UPLOAD_SIZE = MAX_PARTS * MAX_PART_SIZE


@dataclass(frozen=True)
class PartSpec:
    """One planned part: its number and the byte range of the source it holds."""

    part_number: int
    offset: int
    size: int

    def to_dict(self) -> dict[str, int]:
        """The XCom dict a mapped part task receives: ``part_number``, ``offset``, ``size``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | PartSpec) -> PartSpec:
        """From the XCom dict (a PartSpec passes as is); ValueError naming the keys otherwise."""
        if isinstance(data, PartSpec):
            return data
        try:
            return cls(int(data["part_number"]), int(data["offset"]), int(data["size"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"a part range must be a dict with part_number, offset and size, got {data!r}"
            ) from None


def single_put_threshold(config: TransferConfig) -> int:
    """The one answer to "one PUT or multipart?": a sized source below this many bytes goes up in
    one verified PUT. ``multipart_threshold`` when set (0: always multipart), else the part size
    (8 MiB by default; a part size grown to fit 9,998 parts only matters for sources far above
    it, which go multipart either way)."""
    if config.multipart_threshold is not None:
        return config.multipart_threshold
    return config.part_size or DEFAULT_PART_SIZE


def choose_part_size(size: int, part_size: int | None = None, *, max_parts: int = MAX_PARTS) -> int:
    """The part size for a source of ``size`` bytes.

    Default: 8 MiB, grown (in whole MiB) until the upload fits in ``max_parts`` parts. A part
    size given by the caller is validated (100 KiB to 5 GiB) and must fit the source.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"source size must be a whole number of bytes >= 0, got {size!r}")
    biggest = max_parts * MAX_PART_SIZE
    if size > biggest:
        raise ValueError(
            f"the source is {format_bytes(size, exact=True)}, larger than the biggest object this upload "
            f"can build ({max_parts:,} parts of 5 GiB = {format_bytes(biggest, exact=True)})"
        )
    if part_size is None:
        needed = math.ceil(size / max_parts)
        return max(DEFAULT_PART_SIZE, math.ceil(needed / MiB) * MiB)
    validate_part_size(part_size)
    parts = max(1, math.ceil(size / part_size))
    if parts > max_parts:
        smallest = math.ceil(size / max_parts)
        raise ValueError(
            f"the source is {format_bytes(size, exact=True)}: with part_size {format_bytes(part_size, exact=True)} it needs "
            f"{parts:,} parts, but at most {max_parts:,} fit. Use part_size >= "
            f"{smallest:,} B (for example {math.ceil(smallest / MiB)} MiB), or leave it unset"
        )
    return part_size


def plan_parts(
    size: int, part_size: int | None = None, *, max_parts: int = MAX_PARTS
) -> list[PartSpec]:
    """Split ``size`` bytes into parts (an empty source is one empty part)."""
    part_size = choose_part_size(size, part_size, max_parts=max_parts)
    if size == 0:
        return [PartSpec(1, 0, 0)]
    return [
        PartSpec(n + 1, offset, min(part_size, size - offset))
        for n, offset in enumerate(range(0, size, part_size))
    ]


def plan_batches(
    size: int,
    part_size: int | None = None,
    *,
    batches: int | None = None,
    max_batches: int = MAX_BATCHES,
    fingerprint: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Split an upload into at most ``max_batches`` batches of consecutive part numbers.

    Each batch is a small JSON-able dict (``batch``, ``first_part``, ``last_part``, ``part_size``,
    ``total_size``, ``total_parts`` and, when given, the source ``fingerprint``) meant for
    ``.expand(batch=...)``: 10,000 parts fit Airflow's default ``max_map_length`` of 1024.
    """
    if not isinstance(max_batches, int) or max_batches < 1:
        raise ValueError(f"max_batches must be a whole number >= 1, got {max_batches!r}")
    if batches is not None and (
        isinstance(batches, bool) or not isinstance(batches, int) or batches < 1
    ):
        raise ValueError(f"batches must be a whole number >= 1, got {batches!r}")
    part_size = choose_part_size(size, part_size)
    total_parts = max(1, math.ceil(size / part_size))
    wanted = min(batches or max_batches, max_batches, total_parts)
    per_batch = math.ceil(total_parts / wanted)
    count = math.ceil(total_parts / per_batch)
    out = []
    for index in range(count):
        first = index * per_batch + 1
        batch: dict[str, Any] = {
            "batch": index,
            "first_part": first,
            "last_part": min(total_parts, first + per_batch - 1),
            "part_size": part_size,
            "total_size": size,
            "total_parts": total_parts,
        }
        if fingerprint:
            batch["fingerprint"] = fingerprint
        out.append(batch)
    return out


def batch_parts(first_part: int, last_part: int, part_size: int, total_size: int) -> list[PartSpec]:
    """The byte ranges of parts ``first_part..last_part`` of a ``total_size`` source."""
    if total_size > part_size:
        validate_part_size(part_size)
    total_parts = max(1, math.ceil(total_size / part_size))
    if not 1 <= first_part <= last_part <= total_parts:
        raise ValueError(
            f"part range {first_part}..{last_part} does not fit a source of "
            f"{format_bytes(total_size, exact=True)} in parts of {format_bytes(part_size, exact=True)} "
            f"({total_parts} parts); re-plan the upload"
        )
    return [
        PartSpec(n, (n - 1) * part_size, min(part_size, total_size - (n - 1) * part_size))
        for n in range(first_part, last_part + 1)
    ]
