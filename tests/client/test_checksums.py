"""CRC-64/XZ and MD5 helpers against the vectors in oss-api.md section 8, and combine vs concat."""

from __future__ import annotations

import random

import pytest

from oss_provider.client.checksums import (
    combine_part_crcs,
    crc64,
    crc64_combine,
    md5_base64,
    md5_hex,
)


def test_check_values():
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA  # 11051210869376104954
    assert crc64(b"") == 0
    assert crc64(b"hello") == 11177612005948864433
    assert crc64(b"world", crc64(b"hello ")) == crc64(b"hello world")  # incremental


def test_combine_vector_and_part_etags():
    part1, part2 = b"a" * 102400, b"b" * 1000
    assert crc64(part1) == 12696911168479852064
    assert crc64(part2) == 16208029625697213207
    assert crc64_combine(crc64(part1), crc64(part2), 1000) == 10189816783531802777
    assert crc64_combine(0, crc64(part1), len(part1)) == crc64(part1)  # empty prefix
    assert crc64_combine(crc64(part1), 0, 0) == crc64(part1)  # empty suffix
    assert md5_hex(part1) == "302D3A0C8E319EAA95B059B346DE1D1D"
    assert md5_hex(part2) == "C73C16DE8912C313C06AC38B9961E806"
    assert md5_base64(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="


@pytest.mark.parametrize("seed", range(5))
def test_combine_equals_the_crc_of_the_concatenation(seed):
    rng = random.Random(seed)
    parts = [rng.randbytes(rng.choice([0, 1, 7, 255, 4096, rng.randrange(1, 70_000)]))
             for _ in range(12)]  # fmt: skip
    assert combine_part_crcs((crc64(p), len(p)) for p in parts) == crc64(b"".join(parts))


def test_combine_of_many_equal_parts_matches_a_running_crc():
    rng = random.Random(7)
    parts = [rng.randbytes(1000) for _ in range(2000)] + [rng.randbytes(17)]
    running = 0
    for p in parts:
        running = crc64(p, running)
    assert combine_part_crcs((crc64(p), len(p)) for p in parts) == running
