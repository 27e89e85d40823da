"""Reading a text file by lines, each rank only its share.

The file is cut into ``size`` byte ranges of equal length; each range is
moved to the next line start, so every line belongs to exactly one rank and a
rank reads about 1/size of the file (plus the rest of its last line).  Global
line numbers, for error messages, come from an exclusive scan of the per-rank
line counts.  Every text reader in mpiml (dense CSV, ratings, LIBSVM) uses this.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..partition import block_range

# Blocks below this many bytes take the per-line Python parsers: loading the
# compiled parsers costs more than parsing a small file line by line.
FAST_MIN_BYTES = 1 << 20
# bytes that str.split() and str.strip() treat as whitespace, bytes.split() not
_STR_ONLY_SPACE = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")


def require_file(path) -> Path:
    """``path`` as a Path if it is an existing regular file, else InputError."""
    from ..errors import InputError
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", p)
    if p.is_dir():
        raise InputError("is a directory, expected a data file", p)
    try:
        open(p, "rb").close()
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", p) from None
    return p


def numpy_load_error(exc: Exception) -> str:
    """numpy's reason a .npy file could not be loaded, without its advice to
    load pickled data (``allow_pickle``): a data file is never unpickled."""
    text = str(exc)
    if "pickle" in text or "Python objects" in text:
        return "it holds pickled Python objects, which are never loaded; save a numeric array"
    return text


def line_start(fh, pos: int, total: int) -> int:
    """Offset of the first line start at or after byte ``pos`` of open file ``fh``."""
    if pos <= 0:
        return 0
    if pos >= total:
        return total
    fh.seek(pos - 1)
    at = pos - 1
    while at < total:
        chunk = fh.read(1 << 16)
        if not chunk:
            break
        i = chunk.find(b"\n")
        if i >= 0:
            return at + i + 1
        at += len(chunk)
    return total


def byte_range(path, size: int, rank: int) -> tuple[int, int]:
    """This rank's ``[start, end)`` byte range, aligned to line starts (pure
    apart from reading near the cut points)."""
    total = os.path.getsize(path)
    lo, hi = block_range(total, size, rank)
    with open(path, "rb") as fh:
        return line_start(fh, lo, total), line_start(fh, hi, total)


def count_newlines(raw) -> int:
    """``raw.count(b"\\n")`` for bytes or a memoryview, at numpy speed (in
    pieces, so the temporary mask stays small)."""
    x = np.frombuffer(raw, dtype=np.uint8)
    step = 1 << 24
    return int(sum(np.count_nonzero(x[a:a + step] == 10) for a in range(0, x.size, step)))


def count_lines(raw: bytes) -> int:
    """Lines in ``raw`` (a last line without a newline counts)."""
    return count_newlines(raw) + (1 if raw and not raw.endswith(b"\n") else 0)


def read_line_block(comm, path) -> tuple[bytes, int]:
    """Collective.  This rank's bytes of ``path`` and the global (1-based)
    number of their first line.  Errors are agreed on every rank."""
    p = Path(path)
    with comm.agree(f"reading {p}"):
        try:
            start, end = byte_range(p, comm.size, comm.rank)
            with open(p, "rb") as f:
                f.seek(start)
                raw = f.read(end - start)
        except OSError as exc:
            from ..errors import InputError
            raise InputError(f"cannot read: {exc.strerror}", p) from None
    first_line = comm.exscan_sum(count_lines(raw), "read") + 1
    return raw, first_line


def fast_ok(raw: bytes) -> bool:
    """Whether the compiled parsers may read ``raw``: big enough to be worth
    it, and plain ASCII without the bytes 0x1c-0x1f, so that ASCII whitespace
    (what the parsers split on) is exactly what ``str.split()`` splits on."""
    return (len(raw) >= FAST_MIN_BYTES and raw.isascii()
            and not any(c in raw for c in _STR_ONLY_SPACE))


def exact_floats(text: np.ndarray, n: int) -> np.ndarray:
    """The doubles of ``n`` space-separated decimal numbers in ``text``
    (uint8), exactly as Python's ``float()`` gives them: numpy's text parser
    converts each number with CPython's ``PyOS_string_to_double``, the function
    behind ``float()`` (correctly rounded)."""
    if n == 0:
        return np.empty(0)
    vals = np.fromstring(text.tobytes(), dtype=np.float64, sep=" ")  # noqa: NPY - text mode
    if vals.size != n:
        raise RuntimeError(f"exact_floats: {vals.size} numbers parsed, {n} expected")
    return vals
