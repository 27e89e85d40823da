"""Line-aligned byte ranges: every line belongs to exactly one rank."""

import pytest

from mpiml.comm import SerialComm
from mpiml.io.lines import byte_range, count_lines, read_line_block
from tests.fakecomm import run_ranks


@pytest.mark.parametrize("text", ["a\nbb\nccc\n", "a\nbb\nccc", "x" * 50 + "\n" + "y\n" * 7, "", "one line"])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 8])
def test_ranges_tile_the_file_at_line_starts(tmp_path, text, size):
    p = tmp_path / "f.txt"
    p.write_text(text)
    ranges = [byte_range(p, size, r) for r in range(size)]
    assert ranges[0][0] == 0 and ranges[-1][1] == len(text)
    for (a, b), (c, d) in zip(ranges, ranges[1:]):
        assert b == c
    for a, _ in ranges:
        assert a == 0 or a == len(text) or text[a - 1] == "\n"


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_read_line_block_numbers_lines_globally(tmp_path, size):
    p = tmp_path / "f.txt"
    p.write_text("".join(f"line{i}\n" for i in range(1, 24)))
    blocks = run_ranks(size, lambda c: read_line_block(c, p))
    seen = []
    for raw, first in blocks:
        for k, line in enumerate(raw.decode().splitlines()):
            assert line == f"line{first + k}"
            seen.append(first + k)
    assert seen == list(range(1, 24))
    assert count_lines(b"a\nb") == 2 and count_lines(b"") == 0
    assert read_line_block(SerialComm(), p)[1] == 1
