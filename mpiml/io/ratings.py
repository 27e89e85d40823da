"""Reading ratings data (user, item, rating) — every rank reads its share.

Formats (``fmt``):

``triplets``
    one rating per line, ``user item rating [timestamp]``, fields separated by
    whitespace or commas.  Blank lines and lines starting with ``#`` are
    skipped; so is line 1 if its rating field is not a number (a CSV header
    such as ``userId,movieId,rating,timestamp``).
``movielens``
    ``user::item::rating::timestamp`` (MovieLens ``ratings.dat``).
``npy``
    a 2-D ``.npy`` array with 3 or 4 columns (user, item, rating[, time]).
``hdf5``
    a 2-D dataset ``ratings`` (3 or 4 columns), or 1-D datasets ``users``,
    ``items`` and ``ratings`` (or ``values``).
``auto``
    by suffix (``.npy``, ``.h5``/``.hdf5``), else ``movielens`` if the first
    line contains ``::``, else ``triplets``.

Text files are split by byte ranges aligned to line starts; a count exchange
gives every rank its global line numbers, so errors read ``file:line: ...``
(for arrays, ``file:row: ...``).  Raw ids are integers when every id token is
an integer literal that fits int64, otherwise strings (the same kind on every
rank).  Text is parsed by the compiled parser of :mod:`mpiml.io.textparse.kernels`
where it can, and line by line with ``float()`` where it cannot (string ids,
``inf``/``nan``, non-ASCII text, a malformed line): both give the same
values, and the line-by-line path words every message.

:func:`read_raw_ratings` returns this rank's raw ratings as they lie in the
file; mapping ids to dense indices, duplicates and the validation split are
the matrix factorisation's business (:mod:`mpiml.mf.data`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from ..partition import block_range
from . import lines as textlines
from .lines import count_newlines, exact_floats, read_line_block

FORMATS = ("auto", "triplets", "movielens", "npy", "hdf5")
_PIECE = 32 << 20                     # parse text in pieces of ~32 MB (bounded memory)
_INT_RE = re.compile(rb"[+-]?\d+")
_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\r\n\v\f")] = True
_NONDIGIT = ~_SPACE.copy()
_NONDIGIT[list(b"0123456789+-")] = False


# ----------------------------------------------------------------- text files
@dataclass
class RawRatings:
    """Ratings with raw ids (int64 or str, as ``kind`` says), values and the
    global line (row) number of each."""

    users: np.ndarray        # int64 or str
    items: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    kind: str                # "int" or "str"


def _pieces(raw: bytes):
    """(line offset, memoryview) pieces of ~_PIECE bytes ending at line ends."""
    start, line = 0, 0
    view = memoryview(raw)
    while start < len(raw):
        end = raw.find(b"\n", min(start + _PIECE, len(raw)) - 1)
        end = len(raw) if end < 0 else end + 1
        yield line, view[start:end]
        line += count_newlines(view[start:end])
        start = end


def _is_float(tok: bytes) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _parse_piece(data: bytes, first_line: int, path, fmt: str, force_str: bool) -> RawRatings:
    """Parse one piece; ``first_line`` is the global number of its first line."""
    sep = b":" if fmt == "movielens" else b","
    if not force_str and len(data) >= textlines.FAST_MIN_BYTES:
        fast = _parse_fast(data, first_line, path, sep)
        if fast is not None:
            return fast
    data = bytes(data)
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("not valid UTF-8 text", path, first_line + data[:exc.start].count(b"\n")) from None
    data = data.translate(bytes.maketrans(sep, b" "))
    if b"#" in data:      # blank comment lines in place, keeping byte positions
        data = re.sub(rb"(?m)^[ \t]*#[^\n]*", lambda m: b" " * len(m.group()), data)
    if first_line == 1:   # a header line: rating field not a number
        head, nl, rest = data.partition(b"\n")
        f = head.split()
        if len(f) >= 3 and not _is_float(f[2]):
            data = b" " * len(head) + nl + rest
    x = np.frombuffer(data, dtype=np.uint8)
    sp = _SPACE[x]
    prev = np.concatenate([[True], sp[:-1]])
    starts = np.flatnonzero(~sp & prev)
    tok_line = np.cumsum(x == 10, dtype=np.int32)[starts].astype(np.int64)
    n_lines = data.count(b"\n") + 1
    per_line = np.bincount(tok_line, minlength=n_lines)
    bad = np.flatnonzero((per_line != 0) & (per_line != 3) & (per_line != 4))
    if bad.size:
        raise InputError(f"expected 3 or 4 fields (user item rating [timestamp]), found {per_line[bad[0]]}",
                         path, first_line + int(bad[0]))
    line_first = np.concatenate([[0], np.cumsum(per_line)])
    col = np.arange(starts.size) - line_first[tok_line]
    lines = first_line + tok_line[col == 0]
    vals = None
    if not force_str:
        try:
            vals = np.fromstring(data, dtype=np.float64, sep=" ")  # noqa: NPY - text mode is supported
        except (ValueError, DeprecationWarning):
            vals = None
    if vals is not None and vals.size == starts.size:
        # id tokens must be integer literals ("1.0", "1e3" make string ids)
        odd = np.logical_or.reduceat(_NONDIGIT[x], starts) if starts.size else np.zeros(0, bool)
        # ids from 2**53 on are not exact as doubles: the line-by-line path reads them
        if not np.any(odd[col < 2]) and not np.any(np.abs(vals[col < 2]) >= 2.0 ** 53):
            values = vals[col == 2]
            _check_values(values, lines, path)
            return RawRatings(vals[col == 0].astype(np.int64), vals[col == 1].astype(np.int64), values, lines, "int")
    return _parse_slow(data, first_line, path, force_str)


def _parse_fast(data, first_line: int, path, sep: bytes) -> RawRatings | None:
    """The compiled parser on a piece; None when the piece needs the exact
    path (non-ASCII bytes, non-integer ids, ratings that are not plain
    decimals), which then gives the same result or message.  Line 1 of the file
    is skipped when its rating field is not a number, as the exact path does."""
    from .textparse import kernels
    x = np.frombuffer(data, dtype=np.uint8)
    if x.size and x.max() >= 128:       # the exact path checks UTF-8 first
        return None
    skip_first = False
    if first_line == 1:
        head = bytes(data[:256]).split(b"\n", 1)[0]
        if len(head) == 256:
            head = bytes(data).split(b"\n", 1)[0]
        f = head.translate(bytes.maketrans(sep, b" ")).split()
        skip_first = len(f) >= 3 and not _is_float(f[2])
    out = kernels.parse_ratings(x, sep[0], skip_first)
    outcome, line, found, users, items, values, lines, hard, dst = out
    if outcome == kernels.FIELDS:
        raise InputError(f"expected 3 or 4 fields (user item rating [timestamp]), found {found}",
                         path, first_line + int(line))
    if outcome != kernels.DONE:
        return None
    values[dst] = exact_floats(hard, dst.size)
    lines += first_line
    _check_values(values, lines, path)
    return RawRatings(users, items, values, lines, "int")


def _parse_slow(data: bytes, first_line: int, path, force_str: bool) -> RawRatings:
    """Line-by-line parse: string ids, or finding the line of a bad token."""
    us, its, vs, ls = [], [], [], []
    for k, line in enumerate(data.split(b"\n")):
        f = line.split()
        if not f:
            continue
        try:
            v = float(f[2])
        except ValueError:
            raise InputError(f"rating {f[2].decode(errors='replace')!r} is not a number",
                             path, first_line + k) from None
        us.append(f[0])
        its.append(f[1])
        vs.append(v)
        ls.append(first_line + k)
    values, lines = np.asarray(vs, dtype=np.float64), np.asarray(ls, dtype=np.int64)
    _check_values(values, lines, path)
    # integer ids beyond int64 are kept as strings, like any other label
    ints = not force_str and all(_INT_RE.fullmatch(t) and -2 ** 63 <= int(t) < 2 ** 63 for t in us + its)
    if ints:
        return RawRatings(np.array([int(t) for t in us], np.int64), np.array([int(t) for t in its], np.int64),
                          values, lines, "int")
    dec = lambda toks: np.array([t.decode() for t in toks], dtype=str) if toks else np.empty(0, dtype=str)
    return RawRatings(dec(us), dec(its), values, lines, "str")


def _check_values(values, lines, path, what="rating"):
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InputError(f"{what} is {values[bad[0]]} (NaN and infinite ratings are not allowed)",
                         path, int(lines[bad[0]]))


def _concat(parts: list[RawRatings]) -> RawRatings:
    kinds = {p.kind for p in parts}
    if "str" in kinds and "int" in kinds:
        raise RuntimeError("mixed id kinds")  # callers re-parse with force_str
    if not parts:
        return RawRatings(*(np.empty(0, np.int64),) * 2, np.empty(0), np.empty(0, np.int64), "int")
    return RawRatings(*(np.concatenate([getattr(p, a) for p in parts]) for a in ("users", "items", "values", "lines")),
                parts[0].kind)


def _read_text(comm, path: Path, fmt: str, force_str: bool) -> RawRatings:
    """Collective.  This rank's share of a text file."""
    raw, first = read_line_block(comm, path)
    with comm.agree(f"parsing {path}"):
        parts = [_parse_piece(p, first + off, path, fmt, force_str) for off, p in _pieces(raw)]
        if len({p.kind for p in parts}) > 1:
            parts = [_parse_piece(p, first + off, path, fmt, True) for off, p in _pieces(raw)]
        out = _concat(parts)
    if not force_str and "str" in comm.allgather_obj(out.kind, kind="read:kind"):
        with comm.agree(f"parsing {path}"):
            out = _concat([_parse_piece(p, first + off, path, fmt, True) for off, p in _pieces(raw)])
    return out


# ---------------------------------------------------------------- array files
def _from_columns(u, i, v, lo: int, path) -> RawRatings:
    lines = np.arange(lo + 1, lo + 1 + len(v), dtype=np.int64)
    v = np.asarray(v, dtype=np.float64)
    _check_values(v, lines, path, "rating (row number shown)")
    ids = []
    for a, what in ((u, "user"), (i, "item")):
        a = np.asarray(a)
        if a.dtype.kind in "SUO":
            ids.append(np.array([x.decode() if isinstance(x, bytes) else str(x) for x in a], dtype=str))
            continue
        if a.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(a) | (a != np.round(a)))
            if bad.size:
                raise InputError(f"{what} id {a[bad[0]]} is not an integer (row number shown)",
                                 path, int(lines[bad[0]]))
        ids.append(a.astype(np.int64))
    kind = "str" if ids[0].dtype.kind == "U" or ids[1].dtype.kind == "U" else "int"
    if kind == "str":
        ids = [a.astype(str) for a in ids]
    return RawRatings(ids[0], ids[1], v, lines, kind)


def _table_rows(arr, rank: int, size: int, path) -> RawRatings:
    if arr.ndim != 2 or arr.shape[1] not in (3, 4):
        raise InputError(f"expected a 2-D array with 3 or 4 columns (user, item, rating[, time]), "
                         f"found shape {arr.shape}", path)
    lo, hi = block_range(arr.shape[0], size, rank)
    block = np.asarray(arr[lo:hi])
    return _from_columns(block[:, 0], block[:, 1], block[:, 2], lo, path)


def _read_array(comm, path: Path, fmt: str) -> RawRatings:
    """Collective.  This rank's rows of an npy or HDF5 ratings table."""
    with comm.agree(f"reading {path}"):
        if fmt == "npy":
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                from .lines import numpy_load_error
                raise InputError(f"not a readable .npy array ({numpy_load_error(exc)})", path) from None
            out = _table_rows(arr, comm.rank, comm.size, path)
        else:
            import h5py
            try:
                fh = h5py.File(path, "r")
            except OSError as exc:
                raise InputError(f"not a readable HDF5 file ({exc})", path) from None
            with fh:
                if "ratings" in fh and fh["ratings"].ndim == 2:
                    out = _table_rows(fh["ratings"], comm.rank, comm.size, path)
                elif all(n in fh for n in ("users", "items")) and ("ratings" in fh or "values" in fh):
                    vals = fh["ratings"] if "ratings" in fh else fh["values"]
                    n = vals.shape[0]
                    if fh["users"].shape != (n,) or fh["items"].shape != (n,):
                        raise InputError("users, items and ratings datasets differ in length", path)
                    lo, hi = block_range(n, comm.size, comm.rank)
                    out = _from_columns(fh["users"][lo:hi], fh["items"][lo:hi], vals[lo:hi], lo, path)
                else:
                    raise InputError(f"expected a 2-D dataset 'ratings' or 1-D datasets 'users', 'items', "
                                     f"'ratings'; found {sorted(fh)}", path)
    kinds = comm.allgather_obj(out.kind, kind="read:kind")
    if "str" in kinds and out.kind == "int":
        out = RawRatings(out.users.astype(str), out.items.astype(str), out.values, out.lines, "str")
    return out


def read_raw_ratings(comm, path, fmt: str = "auto", force_str: bool = False) -> RawRatings:
    """Collective.  This rank's ratings of ``path`` as they are in the file
    (a byte range of a text file, a block of rows of an array), with raw ids.

    ``force_str`` reads ids as strings even where all are integers.  Any
    problem is an :class:`~mpiml.errors.InputError` on every rank naming
    ``file:line`` (``file:row`` for arrays).
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown ratings format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with comm.agree(f"opening {path}"):
        from .lines import require_file
        require_file(path)
        if fmt == "auto":
            fmt = _detect(path)
    if fmt in ("npy", "hdf5"):
        out = _read_array(comm, path, fmt)
        if force_str and out.kind == "int":
            out = RawRatings(out.users.astype(str), out.items.astype(str), out.values, out.lines, "str")
        return out
    return _read_text(comm, path, fmt, force_str)


def _detect(path: Path) -> str:
    suf = path.suffix.lower()
    if suf == ".npy":
        return "npy"
    if suf in (".h5", ".hdf5", ".hdf"):
        return "hdf5"
    with open(path, "rb") as fh:
        first = fh.read(4096).split(b"\n", 1)[0]
    return "movielens" if b"::" in first else "triplets"
