"""Column-partitioned feature matrices and regression targets (model
parallelism: each rank holds whole columns).

Column ``j`` lives on rank ``j % size`` (:func:`mpiml.partition.cyclic_indices`),
so consecutive coordinates -- a cyclic schedule's round -- spread over all
ranks.  Every rank also holds the full target vector ``y`` (length n).

- ``.npy``: the memory-mapped array's columns ``rank::size``;
- ``.h5``/``.hdf5``: the hyperslab ``[:, rank::size]`` of the dataset;
- ``.csv``/``.tsv``/``.txt`` and LIBSVM: each rank reads its byte range of
  rows, then the entries are redistributed by column with one
  ``Comm.alltoallv`` per array (a transpose shuffle).

Dense blocks are stored transposed, ``XT[k]`` = column ``cols[k]``
(C-contiguous, so a column is contiguous); LIBSVM blocks as CSC
(``indptr`` over local columns, 0-based row ``indices``, ``values``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..partition import cyclic_indices
from .dense import TEXT_SUFFIXES, open_matrix, read_dense
from .libsvm import _read_dense_labels, read_libsvm
from .lines import require_file


@dataclass
class ColumnBlock:
    cols: np.ndarray           # global indices of this rank's columns (increasing)
    n_rows: int
    n_features: int
    y: np.ndarray              # all n_rows targets, float64
    path: str
    XT: np.ndarray | None = None        # dense: (len(cols), n_rows)
    indptr: np.ndarray | None = None    # sparse (CSC over local columns)
    indices: np.ndarray | None = None
    values: np.ndarray | None = None

    @property
    def sparse(self) -> bool:
        return self.XT is None

    @property
    def n_local(self) -> int:
        return int(self.cols.size)

    @property
    def nnz(self) -> int:
        return int(self.values.size) if self.sparse else int(self.XT.size)


def read_columns(comm, path, fmt: str = "auto", labels=None, dataset: str | None = None,
                 labels_dataset: str | None = None, n_features: int | None = None) -> ColumnBlock:
    """Collective.  This rank's columns of ``path`` and every target.

    ``fmt``: ``auto`` (dense for .npy/.h5/.hdf5/.csv/.tsv/.txt, LIBSVM
    otherwise), ``dense`` or ``libsvm``.  Targets: the LIBSVM labels (any
    real number), or for dense data ``labels`` (.npy, .h5 or one value per
    line; default for .h5 data: its dataset ``y``).  Any problem is raised on
    every rank naming the file and the row/line and column.
    """
    p = Path(path)
    if fmt not in ("auto", "dense", "libsvm"):
        raise InputError(f"unknown format {fmt!r} (auto, dense or libsvm)", p)
    suffix = p.suffix.lower()
    dense = fmt == "dense" or (fmt == "auto" and suffix in (".npy", ".h5", ".hdf5") + TEXT_SUFFIXES)
    if not dense:
        block = _read_libsvm_columns(comm, p, n_features)
    elif suffix in TEXT_SUFFIXES:
        block = _read_text_columns(comm, p, labels, labels_dataset)
    else:
        with comm.agree(f"reading {p}"):
            require_file(p)
            block = _read_array_columns(comm, p, dataset, labels, labels_dataset)
        with comm.agree(f"validating {p}"):
            bad = ~np.isfinite(block.XT)
            if bad.any():
                k, i = np.argwhere(bad)[0]
                raise InputError(f"row {i}, column {int(block.cols[k]) + 1}: non-finite value "
                                 f"{block.XT[k, i]}", p)
    with comm.agree(f"checking {p}"):
        if n_features is not None and block.n_features != n_features:
            raise InputError(f"has {block.n_features} features, expected {n_features}", p)
        if block.n_rows < 1 or block.n_features < 1:
            raise InputError(f"needs at least one row and one column, found {block.n_rows} x "
                             f"{block.n_features}", p)
        bad = np.flatnonzero(~np.isfinite(block.y))
        if bad.size:
            where = labels if (dense and labels) else p
            raise InputError(f"target of row {int(bad[0])} is {block.y[bad[0]]} (must be finite)", where)
    return block


def _read_array_columns(comm, p, dataset, labels, labels_dataset) -> ColumnBlock:
    with open_matrix(p, dataset) as arr:
        XT, d = _columns_of(comm, arr, p)
    n = XT.shape[1]
    y, _ = _read_dense_labels(comm, p, labels, labels_dataset, 0, n, n)
    return ColumnBlock(cyclic_indices(d, comm.size, comm.rank), n, d, np.asarray(y, np.float64),
                       str(p), XT=XT)


def _columns_of(comm, arr, p) -> tuple[np.ndarray, int]:
    """Columns ``rank::size`` of a 2-D array-like (memmap or HDF5 dataset),
    transposed to (local columns, rows) float64, and the number of columns."""
    n, d = arr.shape
    if comm.rank >= d or n == 0:   # more ranks than columns: this rank holds none
        return np.empty((len(range(comm.rank, d, comm.size)), n)), d
    block = arr[:, comm.rank::comm.size]      # a strided hyperslab for HDF5
    return np.ascontiguousarray(np.asarray(block, dtype=np.float64).T), d


def _read_text_columns(comm, p, labels, labels_dataset) -> ColumnBlock:
    rows = read_dense(comm, p)                 # this rank's rows, checked (file:line)
    counts = comm.allgather_obj(int(rows.X.shape[0]), "columns:read")
    n, d = rows.n_total, rows.n_features
    with comm.agree(f"reading the targets of {p}"):
        y, _ = _read_dense_labels(comm, p, labels, labels_dataset, 0, n, n)
    # Transpose shuffle: rank r receives the columns r::size of every row block.
    parts = [rows.X[:, r::comm.size].T.copy() for r in range(comm.size)]
    got = comm.alltoallv([q.reshape(-1) for q in parts], kind="columns:shuffle")
    mine = cyclic_indices(d, comm.size, comm.rank)
    XT = np.empty((mine.size, n))
    lo = 0
    for src, buf in enumerate(got):
        XT[:, lo:lo + counts[src]] = buf.reshape(mine.size, counts[src])
        lo += counts[src]
    return ColumnBlock(mine, n, d, np.asarray(y, np.float64), str(p), XT=XT)


def _read_libsvm_columns(comm, p, n_features) -> ColumnBlock:
    data = read_libsvm(comm, p, n_features, need_labels=False)   # raw real-valued labels
    y = np.concatenate(comm.allgather_array(data.y, "columns:targets"))
    n, d, size = data.n_total, data.n_features, comm.size
    rows = data.offset + np.repeat(np.arange(data.n_local, dtype=np.int64), np.diff(data.indptr))
    dest = data.indices % size
    order = np.argsort(dest, kind="stable")
    bounds = np.searchsorted(dest[order], np.arange(size + 1))
    send_i, send_v = [], []
    for r in range(size):
        sl = order[bounds[r]:bounds[r + 1]]
        send_i.append(np.stack([rows[sl], data.indices[sl]], axis=1).reshape(-1))
        send_v.append(data.values[sl])
    got_i = comm.alltoallv(send_i, kind="columns:shuffle")
    got_v = comm.alltoallv(send_v, kind="columns:shuffle")
    ij = np.concatenate(got_i).reshape(-1, 2) if got_i else np.empty((0, 2), np.int64)
    vals = np.concatenate(got_v) if got_v else np.empty(0)
    mine = cyclic_indices(d, size, comm.rank)
    local = ij[:, 1] // size
    order = np.lexsort((ij[:, 0], local))
    indptr = np.zeros(mine.size + 1, dtype=np.int64)
    np.add.at(indptr, local + 1, 1)
    np.cumsum(indptr, out=indptr)
    return ColumnBlock(mine, n, d, y, str(p), indptr=indptr,
                       indices=np.ascontiguousarray(ij[order, 0]), values=np.ascontiguousarray(vals[order]))
