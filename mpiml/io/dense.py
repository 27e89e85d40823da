"""Dense feature matrices: each rank reads only its own rows.

Formats by file suffix: ``.npy`` (memory-mapped slice), ``.h5``/``.hdf5``
(hyperslab of a 2-D dataset), ``.csv``/``.txt``/``.tsv`` (comma or whitespace
separated; the file is cut into byte ranges aligned to line starts, so each
rank reads about 1/size of it, and global line numbers come from an exclusive
scan of the per-rank line counts).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..partition import block_range
from . import lines as textlines
from .lines import numpy_load_error, read_line_block, require_file

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")


@dataclass
class DenseBlock:
    X: np.ndarray          # local rows, float64
    offset: int            # global index of the first local row
    n_total: int           # rows over all ranks
    n_features: int
    path: str
    lines: np.ndarray | None = None  # 1-based file line of each local row (text formats)

    def location(self, local_row: int, col: int | None = None) -> str:
        """Human description of a local row for error messages: text files
        by line and column as an editor counts them (1-based), arrays by index
        as numpy and h5py count them (0-based); the message says which."""
        if self.lines is not None:
            return f"line {int(self.lines[local_row])}" + ("" if col is None else f", column {col + 1}") + \
                " (1-based)"
        return f"row {self.offset + local_row}" + ("" if col is None else f", column {col}") + " (0-based)"


def read_dense(comm, path, dataset: str | None = None) -> DenseBlock:
    """Collective.  Read this rank's block of rows of a 2-D float matrix.

    Any problem (missing file, bad shape, ragged line, non-finite value) is
    raised on every rank, naming the file and the line or row.
    """
    p = Path(path)
    with comm.agree(f"reading {p}"):
        require_file(p)
        suffix = p.suffix.lower()
        if suffix in (".npy", ".h5", ".hdf5"):
            block = _read_array(comm, p, dataset)
        elif suffix in TEXT_SUFFIXES:
            block = None
        else:
            raise InputError(f"unknown data format {suffix!r} (use .npy, .h5/.hdf5, .csv, .tsv or .txt)", p)
    if block is None:
        block = _read_text(comm, p)
    with comm.agree(f"validating {p}"):
        bad = ~np.isfinite(block.X)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise InputError(f"{block.location(r, c)}: non-finite value {block.X[r, c]}", p)
    return block


@contextlib.contextmanager
def open_matrix(p: Path, dataset: str | None = None):
    """Yield the 2-D numeric array-like stored in ``p``: a read-only memmap of
    a ``.npy`` file, or an HDF5 dataset (``dataset``; default ``X`` or the
    only 2-D dataset), open while the block runs.  Nothing is read yet, so
    callers slice only their part.  Problems are :class:`InputError`."""
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"not a readable .npy file: {numpy_load_error(exc)}", p) from None
        yield check_matrix(arr, p)
        return
    import h5py
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file: {exc}", p) from None
    with f:
        if dataset is None:
            cands = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and v.ndim == 2]
            if "X" in f:
                dataset = "X"
            elif len(cands) == 1:
                dataset = cands[0]
            else:
                raise InputError(f"cannot choose a dataset (2-D datasets: {cands or 'none'}); "
                                 f"name one with --dataset", p)
        if dataset not in f:
            raise InputError(f"no dataset {dataset!r}", p)
        yield check_matrix(f[dataset], p)


def check_matrix(arr, p):
    """``arr`` if it is a 2-D numeric array-like, else an InputError naming ``p``."""
    if arr.ndim != 2:
        raise InputError(f"expected a 2-D array (rows x features), found shape {arr.shape}", p)
    if arr.dtype.kind not in "fiu":
        raise InputError(f"expected a numeric array, found dtype {arr.dtype}", p)
    return arr


def _read_array(comm, p: Path, dataset: str | None) -> DenseBlock:
    with open_matrix(p, dataset) as arr:
        n, d = arr.shape
        lo, hi = block_range(n, comm.size, comm.rank)
        return DenseBlock(np.ascontiguousarray(arr[lo:hi], dtype=np.float64), lo, n, d, str(p))


def _read_text(comm, p: Path) -> DenseBlock:
    raw, first_line = read_line_block(comm, p)
    with comm.agree(f"parsing {p}"):
        sep = "," if p.suffix.lower() == ".csv" else None
        parsed = _parse_fast(raw, first_line, sep) if textlines.fast_ok(raw) else None
        flat, counts, lines = parsed if parsed is not None else _parse_slow(raw, first_line, sep, p)
    # The file's first data row fixes the width: the first rank that has rows.
    firsts = comm.allgather_obj((int(counts[0]), int(lines[0])) if counts.size else None, "read")
    with comm.agree(f"parsing {p}"):
        ref = next((f for f in firsts if f is not None), None)
        if ref is None:
            raise InputError("no data rows", p)
        width, ref_line = ref
        bad = np.flatnonzero(counts != width)
        if bad.size:
            raise InputError(f"expected {width} columns (as on line {ref_line}), found {counts[bad[0]]}",
                             p, int(lines[bad[0]]))
        X = flat.reshape(counts.size, width)
    counts = comm.allgather_obj(int(counts.size), "read")
    offset = int(sum(counts[:comm.rank]))
    return DenseBlock(X, offset, int(sum(counts)), width, str(p), lines)


def _parse_fast(raw: bytes, first_line: int, sep):
    """The compiled parser: (values, fields per row, line per row), or None
    when a field is not a plain decimal number (the exact path decides)."""
    from .textparse import kernels
    skip_first = False
    if first_line == 1:       # a header line, as the exact path sees it
        nl = raw.find(b"\n")
        head = raw[:nl if nl >= 0 else len(raw)].decode("ascii").strip()
        if head and not head.startswith("#") and not all(_is_float(x) for x in head.split(sep)):
            skip_first = True
    outcome, _, flat, counts, lines, hard, dst = kernels.parse_dense(
        np.frombuffer(raw, dtype=np.uint8), sep == ",", skip_first)
    if outcome != kernels.DONE:
        return None
    flat[dst] = textlines.exact_floats(hard, dst.size)
    return flat, counts, lines + first_line


def _parse_slow(raw: bytes, first_line: int, sep, p: Path):
    """Line by line with float(): the reference semantics and every message."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + raw[:exc.start].count(b"\n")
        raise InputError("not valid UTF-8 text", p, line) from None
    rows, lines = [], []
    # split("\n") rather than splitlines(): other line-break characters must
    # not shift the line numbers in error messages.
    for k, line in enumerate(text.split("\n")):
        lineno = first_line + k
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        fields = s.split(sep)
        try:
            rows.append([float(x) for x in fields])
        except ValueError:
            if lineno == 1 and not rows:
                continue  # a header line
            bad = next(x for x in fields if not _is_float(x))
            raise InputError(f"cannot parse {bad.strip()!r} as a number", p, lineno) from None
        lines.append(lineno)
    counts = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter((x for r in rows for x in r), dtype=np.float64, count=int(counts.sum()))
    return flat, counts, np.asarray(lines, dtype=np.int64)


def _is_float(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False
