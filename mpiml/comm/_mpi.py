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


_TYPES: dict = {}
_OPS: dict = {}


def datatype(dtype):
    """Explicit MPI datatype for a numpy dtype (tables built once).

    mpi4py maps int64 to MPI_LONG; pairing that with a peer that says
    INT64_T fails with MPI_ERR_TYPE, so every buffer names its type.
    """
    try:
        return _TYPES[dtype]
    except (KeyError, TypeError):
        pass
    m = MPI()
    if not _TYPES:
        for t, mt in ((np.float64, m.DOUBLE), (np.float32, m.FLOAT), (np.int64, m.INT64_T),
                      (np.int32, m.INT32_T), (np.int16, m.INT16_T), (np.uint64, m.UINT64_T),
                      (np.uint32, m.UINT32_T), (np.uint16, m.UINT16_T), (np.uint8, m.UINT8_T),
                      (np.int8, m.INT8_T), (np.bool_, m.C_BOOL)):
            _TYPES[np.dtype(t)] = mt
    dt = np.dtype(dtype)
    try:
        found = _TYPES[dt]
    except KeyError:
        raise TypeError(f"no MPI datatype for numpy dtype {dt}") from None
    try:
        _TYPES[dtype] = found      # also cache the spelling used (np.float64, "f8", ...)
    except TypeError:
        pass
    return found


def op(name: str):
    try:
        return _OPS[name]
    except KeyError:
        pass
    m = MPI()
    table = {"sum": m.SUM, "max": m.MAX, "min": m.MIN, "prod": m.PROD, "lor": m.LOR, "land": m.LAND}
    if name not in table:
        raise ValueError(f"unknown reduction op {name!r}")
    _OPS.update(table)
    return _OPS[name]


def finalize() -> None:
    """Finalize MPI now (after an error every rank agreed on), so that
    ``python -m mpi4py`` exits with our code instead of calling MPI_Abort."""
    if _MPI is not None and _MPI.Is_initialized() and not _MPI.Is_finalized():
        _MPI.Finalize()
