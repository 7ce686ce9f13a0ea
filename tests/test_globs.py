"""One glob rule for the many-files engine and the sweep (oss_provider.globs)."""

from __future__ import annotations

import pytest

from oss_provider.cleanup.options import key_selected
from oss_provider.globs import selected
from oss_provider.transfer.fileset import select

CASES = [
    ("2026/01/part-0001.csv", ("*.csv",), (), True),  # no "/": the last segment, anywhere
    ("2026/01/part-0001.csv", ("part-*",), (), True),
    ("tmp/x.bin", ("tmp*",), (), False),  # no "/": "tmp*" is about names, not the folder
    ("tmp/x.bin", ("tmp/*",), (), True),  # with "/": the whole path; "*" crosses "/"
    ("tmp/a/b/x.bin", ("tmp/*",), (), True),
    ("logs/keep/a.csv", ("*.csv",), ("logs/keep/*",), False),
    ("A.CSV", ("*.csv",), (), False),  # case-sensitive, like keys
    ("x.bin", (), (), True),
]


@pytest.mark.parametrize(("path", "include", "exclude", "expected"), CASES)
def test_the_files_engine_and_the_sweep_match_the_same_way(path, include, exclude, expected):
    assert selected(path, include, exclude) is expected
    assert select(path, include, exclude) is expected
    assert key_selected(path, include, exclude) is expected
