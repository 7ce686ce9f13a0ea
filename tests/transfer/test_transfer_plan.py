"""Part planning and batch planning: pure functions, no server."""

from __future__ import annotations

import itertools
import math

import pytest

from oss_provider.client.limits import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE
from oss_provider.transfer.upload import (
    DEFAULT_PART_SIZE,
    MAX_BATCHES,
    MiB,
    PartSpec,
    batch_parts,
    choose_part_size,
    iter_batch_results,
    plan_batches,
    plan_parts,
)

GiB = 1024 * MiB
TiB = 1024 * GiB


@pytest.mark.parametrize(
    "size, expected",
    [
        (0, DEFAULT_PART_SIZE),
        (1, DEFAULT_PART_SIZE),
        (10 * GiB, DEFAULT_PART_SIZE),
        (MAX_PARTS * DEFAULT_PART_SIZE, DEFAULT_PART_SIZE),
        (MAX_PARTS * DEFAULT_PART_SIZE + 1, 9 * MiB),
        (TiB, 105 * MiB),
        (MAX_PARTS * MAX_PART_SIZE, MAX_PART_SIZE),
    ],
)
def test_default_part_size_grows_to_fit_10000_parts(size, expected):
    chosen = choose_part_size(size)
    assert chosen == expected
    assert chosen >= MIN_PART_SIZE
    assert math.ceil(size / chosen) <= MAX_PARTS


def test_user_part_size_is_validated():
    with pytest.raises(ValueError, match="below OSS's minimum of 100 KiB"):
        choose_part_size(10 * MiB, 1000)
    with pytest.raises(ValueError, match="above OSS's maximum of 5 GiB"):
        choose_part_size(10 * MiB, 6 * GiB)
    with pytest.raises(ValueError, match="integer"):
        choose_part_size(10 * MiB, "8MiB")
    assert choose_part_size(10 * MiB, MIN_PART_SIZE) == MIN_PART_SIZE


def test_user_part_size_too_small_for_source_names_the_fix():
    with pytest.raises(ValueError, match=r"needs 10,001 parts.*part_size >= 102,401 B"):
        choose_part_size(MAX_PARTS * MIN_PART_SIZE + 1, MIN_PART_SIZE)


def test_source_too_large_for_any_part_size():
    with pytest.raises(ValueError, match="larger than the biggest object"):
        choose_part_size(MAX_PARTS * MAX_PART_SIZE + 1)
    with pytest.raises(ValueError, match="size must be"):
        choose_part_size(-1)


def test_plan_parts_covers_every_byte_once():
    size = 3 * MIN_PART_SIZE + 17
    parts = plan_parts(size, MIN_PART_SIZE)
    assert [p.part_number for p in parts] == [1, 2, 3, 4]
    assert [p.size for p in parts] == [MIN_PART_SIZE] * 3 + [17]
    assert all(a.offset + a.size == b.offset for a, b in itertools.pairwise(parts))
    assert sum(p.size for p in parts) == size
    assert plan_parts(0) == [PartSpec(1, 0, 0)]
    assert plan_parts(MIN_PART_SIZE, MIN_PART_SIZE) == [PartSpec(1, 0, MIN_PART_SIZE)]


def test_10000_part_plan_fits_default_max_map_length():
    size = MAX_PARTS * MIN_PART_SIZE
    batches = plan_batches(size, MIN_PART_SIZE)
    assert len(batches) <= MAX_BATCHES == 1024
    ranges = [(b["first_part"], b["last_part"]) for b in batches]
    assert ranges[0][0] == 1 and ranges[-1][1] == MAX_PARTS
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))
    covered = [
        p
        for b in batches
        for p in batch_parts(b["first_part"], b["last_part"], b["part_size"], b["total_size"])
    ]
    assert covered == plan_parts(size, MIN_PART_SIZE)


def test_plan_batches_respects_requested_count_and_is_json_able():
    import json

    batches = plan_batches(
        10 * MIN_PART_SIZE + 1, MIN_PART_SIZE, batches=4, fingerprint={"size": 1}
    )
    assert [(b["first_part"], b["last_part"]) for b in batches] == [
        (1, 3),
        (4, 6),
        (7, 9),
        (10, 11),
    ]
    assert all(b["total_parts"] == 11 and b["fingerprint"] == {"size": 1} for b in batches)
    assert json.loads(json.dumps(batches)) == batches
    # more batches than parts: one part each
    assert len(plan_batches(2 * MIN_PART_SIZE, MIN_PART_SIZE, batches=50)) == 2
    with pytest.raises(ValueError, match="batches must be"):
        plan_batches(10, batches=0)


def test_batch_parts_rejects_a_range_outside_the_plan():
    with pytest.raises(ValueError, match="re-plan the upload"):
        batch_parts(3, 5, MIN_PART_SIZE, 3 * MIN_PART_SIZE)
    assert batch_parts(1, 1, DEFAULT_PART_SIZE, 0) == [PartSpec(1, 0, 0)]


def test_iter_batch_results_flattens_a_lazy_list_of_lists():
    part = {"part_number": 1, "etag": "A", "size": 5, "crc64": 7}

    class Lazy:  # what a mapped upstream hands its downstream: iterable, not a list
        def __iter__(self):
            yield [part]
            yield None
            yield [{**part, "part_number": 2}]

    assert [p["part_number"] for p in iter_batch_results(Lazy())] == [1, 2]
