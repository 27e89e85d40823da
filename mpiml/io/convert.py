"""Text data to the binary layouts the readers load without parsing.

Each converter reads its input with the same reader training uses (so the
same validation and ``file:line`` messages) and writes one file that the
reader accepts again:

* ratings -> ``.h5`` with 1-D datasets ``users``, ``items``, ``ratings``
  (int64 ids, or UTF-8 strings for string ids), or ``.npy`` with a float64
  ``(n, 3)`` table (only for integer ids below 2**53 in magnitude, which
  float64 holds exactly);
* dense text -> ``.npy`` (float64, rows x features) or ``.h5`` dataset ``X``;
* LIBSVM -> ``.h5`` with a dense ``X`` and the labels ``y`` as written in
  the file (the layout :func:`mpiml.io.libsvm.read_labelled` reads), refused
  when the dense matrix would exceed ``max_dense_bytes``.

Rows keep the order of the input lines, so duplicate policies that depend on
line order (``last``, ``first``) pick the same entries.  The output is
written to a temporary file in the target directory, flushed to disk and
renamed into place, so a reader never sees half a file; an existing output
is replaced only with ``force``, and the input never.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError

OUT_SUFFIXES = (".npy", ".h5", ".hdf5")


def check_output(inp, out, force: bool) -> Path:
    """``out`` as a Path if it may be written, else ConfigError: it must end
    in .npy/.h5/.hdf5, must not be the input, and must not exist unless
    ``force``."""
    inp, out = Path(inp), Path(out)
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise ConfigError(f"{out}: output must end in .npy, .h5 or .hdf5")
    if out.exists() or out.is_symlink():
        if inp.exists() and (out.resolve() == inp.resolve() or os.path.samefile(out, inp)):
            raise ConfigError(f"{out}: is the input file; refusing to overwrite it")
        if out.is_dir():
            raise ConfigError(f"{out}: is a directory")
        if not force:
            raise ConfigError(f"{out}: exists; refusing to overwrite it (pass --force to replace it)")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: directory {out.parent} does not exist")
    return out


def write_atomic(out: Path, write) -> int:
    """Call ``write(tmp_path)``, fsync, rename onto ``out``; bytes written.
    On any error the temporary file is removed and ``out`` is untouched."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}{out.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return out.stat().st_size


def _h5(tmp: Path, datasets: dict) -> None:
    import h5py
    with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
        for name, arr in datasets.items():
            f.create_dataset(name, data=arr)


def _npy(tmp: Path, arr: np.ndarray) -> None:
    with open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def convert_ratings(comm, inp, out, fmt: str = "auto", force: bool = False) -> dict:
    """Convert a ratings file to .npy/.h5.  Returns a summary dict."""
    from .ratings import read_raw_ratings
    out = check_output(inp, out, force)
    t0 = time.perf_counter()
    raw = read_raw_ratings(comm, inp, fmt)
    t_read = time.perf_counter() - t0
    if out.suffix.lower() == ".npy":
        if raw.kind == "str":
            raise ConfigError(f"{inp}: has string ids, which a .npy table cannot hold; convert to .h5")
        big = np.abs(np.concatenate([raw.users, raw.items])) >= 2 ** 53 if raw.users.size else np.zeros(0, bool)
        if big.any():
            raise ConfigError(f"{inp}: has ids of 2**53 or more, which float64 cannot hold exactly; "
                              f"convert to .h5")
        table = np.column_stack([raw.users.astype(np.float64), raw.items.astype(np.float64), raw.values])
        n_bytes = write_atomic(out, lambda tmp: _npy(tmp, table))
    else:
        if raw.kind == "str":
            import h5py
            ids = [np.array(a.tolist(), dtype=h5py.string_dtype()) for a in (raw.users, raw.items)]
        else:
            ids = [raw.users, raw.items]
        n_bytes = write_atomic(out, lambda tmp: _h5(tmp, {"users": ids[0], "items": ids[1], "ratings": raw.values}))
    return {"kind": "ratings", "rows": int(raw.values.size), "ids": raw.kind, "read_s": t_read,
            "out": str(out), "bytes": n_bytes, "seconds": time.perf_counter() - t0}


def convert_dense(comm, inp, out, force: bool = False) -> dict:
    """Convert a dense text matrix (.csv/.tsv/.txt) to .npy/.h5."""
    from .dense import TEXT_SUFFIXES, read_dense
    out = check_output(inp, out, force)
    if Path(inp).suffix.lower() not in TEXT_SUFFIXES:
        raise ConfigError(f"{inp}: dense text input must end in .csv, .tsv or .txt")
    t0 = time.perf_counter()
    block = read_dense(comm, inp)
    t_read = time.perf_counter() - t0
    if out.suffix.lower() == ".npy":
        n_bytes = write_atomic(out, lambda tmp: _npy(tmp, block.X))
    else:
        n_bytes = write_atomic(out, lambda tmp: _h5(tmp, {"X": block.X}))
    return {"kind": "dense", "rows": int(block.X.shape[0]), "features": int(block.n_features), "read_s": t_read,
            "out": str(out), "bytes": n_bytes, "seconds": time.perf_counter() - t0}


def convert_libsvm(comm, inp, out, force: bool = False, max_dense_bytes: int = 1 << 30) -> dict:
    """Convert a LIBSVM file to .h5 (dense ``X`` and raw labels ``y``)."""
    from .libsvm import read_libsvm
    out = check_output(inp, out, force)
    if out.suffix.lower() == ".npy":
        raise ConfigError(f"{out}: LIBSVM data converts to .h5 (X and labels y in one file), not .npy")
    t0 = time.perf_counter()
    data = read_libsvm(comm, inp, need_labels=False)
    t_read = time.perf_counter() - t0
    n, d = data.n_local, data.n_features
    if n * d * 8 > max_dense_bytes:
        raise ConfigError(f"{inp}: as a dense matrix it would take {n * d * 8 / 1e9:.2f} GB ({n} x {d} float64), "
                          f"more than --max-dense-bytes {max_dense_bytes}; keep the LIBSVM text")
    X = np.zeros((n, d))
    rows = np.repeat(np.arange(n), np.diff(data.indptr))
    X[rows, data.indices] = data.values
    n_bytes = write_atomic(out, lambda tmp: _h5(tmp, {"X": X, "y": data.y}))
    return {"kind": "libsvm", "rows": n, "features": d, "nnz": int(data.nnz), "read_s": t_read,
            "out": str(out), "bytes": n_bytes, "seconds": time.perf_counter() - t0}
