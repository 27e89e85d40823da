"""Labelled examples for linear models: LIBSVM/SVMlight text, or dense arrays
plus labels.

LIBSVM/SVMlight format, one example per line::

    <label> <index>:<value> <index>:<value> ...   [# comment]

with labels 0/1 or -1/+1 (one convention per file), indices 1-based and
strictly increasing.  Blank lines and ``#`` comments are skipped, ``qid:N``
tokens (SVMlight ranking) ignored.  Each rank reads its byte range of the
file, aligned to line starts, and numbers its lines from an exclusive scan of
the per-rank line counts (:mod:`mpiml.io.lines`).  Every
problem is raised on every rank as ``file:line: what``.

Dense data: ``X`` through :func:`mpiml.io.dense.read_dense` (.npy, .h5,
.csv ...), labels from a separate file (.npy, .h5, or text with one label per
line) or, for HDF5, a dataset of the same file (``y`` by default).

Labels are returned as -1.0/+1.0 with the file's convention in
``label_kind`` (``"01"`` or ``"pm1"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dense import read_dense
from . import lines as textlines
from .lines import numpy_load_error, read_line_block, require_file

DENSE_SUFFIXES = (".npy", ".h5", ".hdf5", ".csv", ".tsv")


@dataclass
class LabelledData:
    """This rank's examples: dense ``X`` or CSR (``indptr``, ``indices``,
    ``values``; 0-based column indices), labels ``y`` in {-1, +1}."""

    y: np.ndarray
    offset: int                 # global index of the first local example
    n_total: int
    n_features: int
    path: str
    label_kind: str = "pm1"
    X: np.ndarray | None = None
    indptr: np.ndarray | None = None
    indices: np.ndarray | None = None
    values: np.ndarray | None = None
    lines: np.ndarray | None = None   # 1-based file line of each local example (text)

    @property
    def sparse(self) -> bool:
        return self.X is None

    @property
    def n_local(self) -> int:
        return int(self.y.size)

    @property
    def nnz(self) -> int:
        return int(self.indices.size) if self.sparse else int(self.X.size)


def is_dense_path(path, fmt: str = "auto") -> bool:
    if fmt != "auto":
        return fmt == "dense"
    return Path(path).suffix.lower() in DENSE_SUFFIXES


def read_labelled(comm, path, fmt: str = "auto", labels=None, dataset: str | None = None,
                  labels_dataset: str | None = None, n_features: int | None = None,
                  need_labels: bool = True, real_labels: bool = False) -> LabelledData:
    """Collective.  This rank's examples of ``path``.

    ``fmt``: ``auto`` (dense for .npy/.h5/.hdf5/.csv/.tsv, LIBSVM otherwise),
    ``libsvm`` or ``dense``.  ``n_features``: expected width (a model's);
    LIBSVM indices beyond it are errors, dense data must match it.  With
    ``need_labels=False`` (prediction) labels are not read for dense data
    and not validated for LIBSVM.  With ``real_labels=True`` (regression)
    labels may be any finite numbers (``label_kind`` "real").
    """
    if fmt not in ("auto", "libsvm", "dense"):
        raise InputError(f"unknown format {fmt!r} (auto, libsvm or dense)", path)
    if not is_dense_path(path, fmt):
        return read_libsvm(comm, path, n_features, need_labels, real_labels)
    block = read_dense(comm, path, dataset)
    with comm.agree(f"checking {path}"):
        if n_features is not None and block.n_features != n_features:
            raise InputError(f"has {block.n_features} features, expected {n_features}", path)
        y, kind = np.zeros(block.X.shape[0]), "pm1"
        if need_labels:
            raw, where = _read_dense_labels(comm, path, labels, labels_dataset, block.offset,
                                            block.X.shape[0], block.n_total)
    if need_labels:
        y, kind = check_real_labels(comm, raw, where) if real_labels else check_labels(comm, raw, where)
    return LabelledData(y=y, offset=block.offset, n_total=block.n_total, n_features=block.n_features,
                        path=str(path), label_kind=kind, X=block.X, lines=block.lines)


def _read_dense_labels(comm, xpath, labels, labels_dataset, offset, n, n_total):
    """Raw labels of rows ``[offset, offset + n)`` and a locator for messages."""
    xpath = Path(xpath)
    if labels is None:
        if xpath.suffix.lower() in (".h5", ".hdf5"):
            labels, labels_dataset = xpath, labels_dataset or "y"
        else:
            raise InputError("dense data needs labels: give --labels FILE (.npy, .h5 or text, "
                             "one label per row)", xpath)
    p = Path(labels)
    if not p.is_file():
        raise InputError("no such labels file", p)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"not a readable .npy file: {numpy_load_error(exc)}", p) from None
    elif suffix in (".h5", ".hdf5"):
        import h5py
        try:
            f = h5py.File(p, "r")
        except OSError as exc:
            raise InputError(f"not a readable HDF5 file: {exc}", p) from None
        with f:
            name = labels_dataset or "y"
            if name not in f:
                raise InputError(f"no labels dataset {name!r} (name it with --labels-dataset)", p)
            arr = f[name][()]
    else:
        arr = _read_label_text(p)
    arr = np.asarray(arr)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or arr.shape[0] != n_total:
        raise InputError(f"expected {n_total} labels (one per row of {xpath.name}), found shape "
                         f"{arr.shape}", p)
    if arr.dtype.kind not in "fiub":
        raise InputError(f"labels must be numbers, found dtype {arr.dtype}", p)
    raw = np.asarray(arr[offset:offset + n], dtype=np.float64)
    return raw, ("row", p, offset)


def _read_label_text(p: Path) -> np.ndarray:
    out = []
    for k, line in enumerate(p.read_text(encoding="utf-8", errors="replace").split("\n"), start=1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        try:
            out.append(float(s.split(",")[0].split()[0]))
        except ValueError:
            raise InputError(f"cannot parse label {s!r}", p, k) from None
    return np.asarray(out)


def check_labels(comm, raw: np.ndarray, where) -> tuple[np.ndarray, str]:
    """Collective.  Labels must all be 0/1 or all be -1/+1; returns them as
    -1.0/+1.0 and the convention.  ``where`` locates rows for messages:
    ``("line", path, lines)`` or ``("row", path, offset)``."""
    kind_of, path, loc = where

    def locate(i):
        if kind_of == "line":
            return {"line": int(loc[i])}
        return {"row": int(loc) + int(i)}

    with comm.agree(f"checking the labels of {path}"):
        bad = np.flatnonzero(~np.isin(raw, (-1.0, 0.0, 1.0)))
        if bad.size:
            i = bad[0]
            at = locate(i)
            msg = f"label {raw[i]:g} is neither 0/1 nor -1/+1"
            if "line" in at:
                raise InputError(msg, path, at["line"])
            raise InputError(f"row {at['row']}: {msg}", path)
        first = {}
        for v in (0.0, -1.0):
            idx = np.flatnonzero(raw == v)
            first[v] = None if idx.size == 0 else locate(idx[0])
    seen = comm.allgather_obj(first, kind="labels")
    with comm.agree(f"checking the labels of {path}"):
        zero = next((f[0.0] for f in seen if f[0.0] is not None), None)
        neg = next((f[-1.0] for f in seen if f[-1.0] is not None), None)
        if zero is not None and neg is not None:
            def txt(at):
                return f"line {at['line']}" if "line" in at else f"row {at['row']}"
            raise InputError(f"labels mix the 0/1 and -1/+1 conventions ({txt(zero)} has 0, "
                             f"{txt(neg)} has -1)", path)
        kind = "01" if zero is not None else "pm1"
        y = np.where(raw > 0, 1.0, -1.0)
    return y, kind


def check_real_labels(comm, raw: np.ndarray, where) -> tuple[np.ndarray, str]:
    """Collective.  Regression targets: any finite numbers (``where`` as in
    :func:`check_labels`); returns them as float64 and ``"real"``."""
    kind_of, path, loc = where
    with comm.agree(f"checking the labels of {path}"):
        bad = np.flatnonzero(~np.isfinite(raw))
        if bad.size:
            i = int(bad[0])
            if kind_of == "line":
                raise InputError(f"non-finite label {raw[i]!r}", path, int(loc[i]))
            raise InputError(f"row {int(loc) + i}: non-finite label {raw[i]!r}", path)
    return np.asarray(raw, dtype=np.float64), "real"


# -------------------------------------------------------------------- LIBSVM
def read_libsvm(comm, path, n_features: int | None = None, need_labels: bool = True,
                real_labels: bool = False) -> LabelledData:
    """Collective.  This rank's lines of a LIBSVM/SVMlight file."""
    p = Path(path)
    with comm.agree(f"reading {p}"):
        require_file(p)
    raw, first_line = read_line_block(comm, p)
    with comm.agree(f"parsing {p}"):
        parsed = _parse(raw, p, first_line, n_features)
    labels, indptr, indices, values, lines, max_index = parsed
    counts = comm.allgather_obj(len(labels), "read")
    width = comm.allreduce_scalar(int(max_index), "max", kind="read")
    with comm.agree(f"parsing {p}"):
        if sum(counts) == 0:
            raise InputError("no examples", p)
    d = int(n_features) if n_features is not None else int(width)
    raw_y = np.asarray(labels, dtype=np.float64)
    if not need_labels:
        y, kind = raw_y, "pm1"
    elif real_labels:
        y, kind = check_real_labels(comm, raw_y, ("line", p, lines))
    else:
        y, kind = check_labels(comm, raw_y, ("line", p, lines))
    offset = int(sum(counts[:comm.rank]))
    return LabelledData(y=y, offset=offset, n_total=int(sum(counts)), n_features=d, path=str(p),
                        label_kind=kind, indptr=np.asarray(indptr, dtype=np.int64),
                        indices=np.asarray(indices, dtype=np.int64),
                        values=np.asarray(values, dtype=np.float64), lines=np.asarray(lines, dtype=np.int64))


def _parse(raw: bytes, p: Path, first_line: int, n_features: int | None):
    if textlines.fast_ok(raw):
        fast = _parse_fast(raw, first_line, n_features)
        if fast is not None:
            return fast
    return _parse_slow(raw, p, first_line, n_features)


def _parse_fast(raw: bytes, first_line: int, n_features: int | None):
    """The compiled parser; None when a line needs the exact path (which
    then raises its message, or accepts what the compiled one does not know)."""
    from .textparse import kernels
    out = kernels.parse_libsvm(np.frombuffer(raw, dtype=np.uint8), -1 if n_features is None else int(n_features))
    outcome, _, labels, lines, indptr, indices, values, max_index, hard, dst = out
    if outcome != kernels.DONE:
        return None
    exact = textlines.exact_floats(hard, dst.size)
    lab = dst < 0
    labels[-1 - dst[lab]] = exact[lab]
    values[dst[~lab]] = exact[~lab]
    if not np.all(np.isfinite(values)):   # an overflowing value: the exact path names it
        return None
    return labels, indptr, indices, values, lines + first_line, int(max_index)


def _parse_slow(raw: bytes, p: Path, first_line: int, n_features: int | None):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("not valid UTF-8 text", p, first_line + raw[:exc.start].count(b"\n")) from None
    labels, lines, indices, values = [], [], [], []
    indptr = [0]
    max_index = 0
    # split("\n"), not splitlines(): other line breaks must not shift line numbers
    for k, line in enumerate(text.split("\n")):
        lineno = first_line + k
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        toks = s.split()
        try:
            lab = float(toks[0])
        except ValueError:
            raise InputError(f"cannot parse label {toks[0]!r} (expected 0/1 or -1/+1 first, "
                             f"then INDEX:VALUE pairs)", p, lineno) from None
        prev = 0
        for tok in toks[1:]:
            idx_s, sep, val_s = tok.partition(":")
            if not sep:
                raise InputError(f"expected INDEX:VALUE, found {tok!r}", p, lineno)
            if idx_s == "qid":
                continue
            try:
                idx = int(idx_s)
                val = float(val_s)
            except ValueError:
                raise InputError(f"expected INDEX:VALUE with an integer index and a number, "
                                 f"found {tok!r}", p, lineno) from None
            if idx < 1:
                raise InputError(f"index {idx} out of range (indices are 1-based)", p, lineno)
            if n_features is not None and idx > n_features:
                raise InputError(f"index {idx} out of range (the model has {n_features} features)",
                                 p, lineno)
            if idx <= prev:
                raise InputError(f"index {idx} after {prev}: indices must be strictly increasing",
                                 p, lineno)
            if not math.isfinite(val):
                raise InputError(f"non-finite value {val_s!r} at index {idx}", p, lineno)
            prev = idx
            indices.append(idx - 1)
            values.append(val)
        max_index = max(max_index, prev)
        labels.append(lab)
        lines.append(lineno)
        indptr.append(len(indices))
    return labels, indptr, indices, values, lines, max_index


__all__ = ["LabelledData", "read_labelled", "read_libsvm", "check_labels", "check_real_labels",
           "is_dense_path"]
