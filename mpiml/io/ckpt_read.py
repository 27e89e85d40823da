"""Reading and verifying checkpoints written by :mod:`mpiml.io.checkpoint`."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ..errors import CheckpointError
from .checkpoint import FORMAT, FORMAT_VERSION, _crc32, resolve


class Checkpoint:
    """A checkpoint opened for reading (no MPI needed).

    Parameters
    ----------
    path : checkpoint root (with LATEST), checkpoint directory or master.h5
    verify : check size and CRC32 of every shard now (``verify_shards`` can
        check a subset instead, as the ranks do in :func:`load`).
    """

    def __init__(self, path, verify: bool = True):
        self.dir = resolve(path)
        self.master = self.dir / "master.h5"
        try:
            with h5py.File(self.master, "r") as f:
                a = dict(f.attrs)
                if a.get("format") != FORMAT:
                    raise CheckpointError(f"{self.master}: not an mpiml checkpoint "
                                          f"(format={a.get('format')!r})")
                self.array_names = {g: sorted(f[g].keys()) for g in ("replicated", "distributed")}
        except (OSError, KeyError) as exc:
            raise CheckpointError(f"{self.master}: cannot read the master file "
                                  f"(truncated or corrupt?): {exc}") from None
        if int(a.get("format_version", -1)) > FORMAT_VERSION:
            raise CheckpointError(f"{self.master}: checkpoint format {a['format_version']} is newer "
                                  f"than this mpiml understands ({FORMAT_VERSION})")
        try:
            self.algorithm = str(a["algorithm"])
            self.schema = int(a["schema_version"])
            self.iteration = int(a["iteration"])
            self.n_ranks = int(a["n_ranks"])
            self.config = json.loads(a["config"])
            self.provenance = json.loads(a["provenance"])
            self.meta = json.loads(a["meta"])
            self.shards = json.loads(a["shards"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{self.master}: missing or malformed attribute: {exc}") from None
        if verify:
            self.verify_shards(range(len(self.shards)))

    def expect(self, algorithm: str, schema: int) -> "Checkpoint":
        if self.algorithm != algorithm:
            raise CheckpointError(f"{self.dir} is a checkpoint of {self.algorithm!r}, not {algorithm!r}")
        if self.schema != schema:
            raise CheckpointError(f"{self.dir}: {algorithm} checkpoint schema {self.schema}, "
                                  f"this mpiml reads schema {schema}")
        return self

    def verify_shards(self, indices) -> None:
        for i in indices:
            s = self.shards[i]
            p = self.dir / s["file"]
            if not p.is_file():
                raise CheckpointError(f"{p}: shard missing (checkpoint {self.dir.name} is incomplete)")
            size = p.stat().st_size
            if size != s["size"]:
                raise CheckpointError(f"{p}: shard is {size} bytes, expected {s['size']} (truncated?)")
            crc = _crc32(p)
            if crc != s["crc32"]:
                raise CheckpointError(f"{p}: CRC32 {crc:08x} != recorded {s['crc32']:08x} (corrupt)")

    # ----------------------------------------------------------------- arrays
    def _open(self):
        return h5py.File(self.master, "r")

    def replicated(self, name: str) -> np.ndarray:
        with self._open() as f:
            if name not in f["replicated"]:
                raise CheckpointError(f"{self.master}: no replicated array {name!r}")
            return f["replicated"][name][()]

    def distributed_shape(self, name: str) -> tuple:
        with self._open() as f:
            return f["distributed"][name].shape

    def read_rows(self, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Rows ``[lo, hi)`` of a distributed array, whatever the rank count
        that wrote it (hyperslab of the virtual dataset)."""
        with self._open() as f:
            if name not in f["distributed"]:
                raise CheckpointError(f"{self.master}: no distributed array {name!r}")
            d = f["distributed"][name]
            return d[lo:d.shape[0] if hi is None else hi]

    def rank_state(self, rank: int) -> dict:
        with self._open() as f:
            raw = f["rank_state"][rank]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)

    def summary(self) -> dict:
        """Everything ``mpiml inspect`` shows, as JSON-able data."""
        arrays = []
        with self._open() as f:
            for group in ("replicated", "distributed"):
                for name in sorted(f[group].keys()):
                    d = f[group][name]
                    entry = {"name": f"{group}/{name}", "shape": list(d.shape), "dtype": str(d.dtype)}
                    data = d[()]
                    if data.size and data.dtype.kind in "fiub":
                        x = data.astype(np.float64)
                        entry.update(min=float(x.min()), max=float(x.max()), mean=float(x.mean()))
                    arrays.append(entry)
        return {"path": str(self.dir), "algorithm": self.algorithm, "schema_version": self.schema,
                "iteration": self.iteration, "n_ranks": self.n_ranks, "config": self.config,
                "meta": self.meta, "provenance": self.provenance, "arrays": arrays,
                "shards": self.shards, "verified": True}


def load(comm, path, algorithm: str, schema: int) -> Checkpoint:
    """Collective.  Open a checkpoint on every rank, the ranks sharing the
    CRC verification of its shards; any problem is the same error everywhere."""
    with comm.agree(f"opening checkpoint {path}"):
        ck = Checkpoint(path, verify=False).expect(algorithm, schema)
        ck.verify_shards(range(comm.rank, len(ck.shards), comm.size))
    return ck
