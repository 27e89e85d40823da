"""Lazy access to mpi4py and explicit datatype mapping."""

from __future__ import annotations

import numpy as np

_MPI = None


def MPI():  # noqa: N802 - reads like the module it returns
    """Import ``mpi4py.MPI`` on first use (this initialises MPI)."""
    global _MPI
    if _MPI is None:
        from mpi4py import MPI as _m
        _MPI = _m
    return _MPI


def datatype(dtype):
    """Explicit MPI datatype for a numpy dtype.

    mpi4py maps int64 to MPI_LONG; pairing that with a peer that says
    INT64_T fails with MPI_ERR_TYPE, so every buffer names its type.
    """
    m = MPI()
    dt = np.dtype(dtype)
    table = {
        np.dtype(np.float64): m.DOUBLE, np.dtype(np.float32): m.FLOAT,
        np.dtype(np.int64): m.INT64_T, np.dtype(np.int32): m.INT32_T,
        np.dtype(np.uint64): m.UINT64_T, np.dtype(np.uint32): m.UINT32_T,
        np.dtype(np.uint8): m.UINT8_T, np.dtype(np.int8): m.INT8_T,
        np.dtype(np.bool_): m.C_BOOL,
    }
    try:
        return table[dt]
    except KeyError:
        raise TypeError(f"no MPI datatype for numpy dtype {dt}") from None


def op(name: str):
    m = MPI()
    try:
        return {"sum": m.SUM, "max": m.MAX, "min": m.MIN, "prod": m.PROD,
                "lor": m.LOR, "land": m.LAND}[name]
    except KeyError:
        raise ValueError(f"unknown reduction op {name!r}") from None


def finalize() -> None:
    """Finalize MPI now (after an error every rank agreed on), so that
    ``python -m mpi4py`` exits with our code instead of calling MPI_Abort."""
    if _MPI is not None and _MPI.Is_initialized() and not _MPI.Is_finalized():
        _MPI.Finalize()
