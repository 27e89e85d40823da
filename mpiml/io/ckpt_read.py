"""Reading and verifying checkpoints written by :mod:`mpiml.io.checkpoint`.

A checkpoint is data from outside (copied, shared, possibly hand-edited), so
opening one checks, before any array is read:

1. LATEST names a plain ``ckpt-NNNNNN`` directory inside the root;
2. the manifest parses, has the expected structure and matches its own CRC32;
3. every file it lists is a regular file (no symbolic link) inside the
   checkpoint directory, of the recorded size, and every byte matches the
   recorded CRC32s (the master by every reader, shards shared by the ranks);
4. the HDF5 files hold only hard links (soft and external links refused),
   exactly the datasets the manifest lists, with its shapes and dtypes, stored
   contiguously in as many bytes as the shape needs (so a claimed shape can
   never make a reader allocate more than the files hold), and every virtual
   dataset maps only the listed rows of listed shards in the same directory;
5. every attribute has the expected type.

Any failure is a :class:`CheckpointError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

# h5py is imported inside the functions that open HDF5 files: importing it
# maps libhdf5 and adds about 12 MiB to every process's peak RSS, and a run
# that neither writes nor reads a checkpoint never needs it.
from ..errors import CheckpointError
from . import manifest as mf
from .checkpoint import CKPT_NAME, FORMAT, FORMAT_VERSION, ckpt_entries, latest, resolve

# Rows per read when streaming statistics (``inspect``): constant memory.
STATS_CHUNK_BYTES = 16 << 20
_HDF5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)


def safe_text(text) -> str:
    """``text`` with control and other non-printing characters escaped
    (``\\x1b``), so names and attributes from a file cannot drive a terminal."""
    s = str(text)
    out = []
    for ch in s:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            cp = ord(ch)
            out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")
    return "".join(out)


class Checkpoint:
    """A checkpoint opened for reading (no MPI needed).

    Parameters
    ----------
    path : checkpoint root (with LATEST), checkpoint directory or master.h5
    verify : check every shard now (``verify_shards`` can check a subset
        instead, as the ranks do in :func:`load`); the manifest and the master
        file are always verified.
    """

    def __init__(self, path, verify: bool = True):
        import h5py
        self.dir = resolve(path)
        self.master = self.dir / "master.h5"
        self.manifest = mf.read_manifest(self.dir)
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{self.dir / mf.MANIFEST}: checkpoint format "
                                  f"{safe_text(self.manifest.get('format_version'))}, this mpiml reads "
                                  f"format {FORMAT_VERSION}")
        self.files = self.manifest["files"]
        self.arrays = self.manifest["arrays"]
        self.shard_files = sorted(n for n in self.files if n != "master.h5")
        mf.verify_file(self.dir, "master.h5", self.files["master.h5"])
        try:
            with h5py.File(self.master, "r") as f:
                self._check_master(f)
                a = dict(f.attrs)
        except CheckpointError:
            raise
        except _HDF5_ERRORS as exc:
            raise CheckpointError(f"{self.master}: cannot read the master file (not HDF5 or "
                                  f"corrupt?): {safe_text(exc)}") from None
        self._read_attrs(a)
        self.shards = [{"file": n, "size": self.files[n]["size"]} for n in self.shard_files]
        self.array_names = {g: sorted(k.split("/", 1)[1] for k in self.arrays if k.startswith(g + "/"))
                            for g in ("replicated", "distributed")}
        if verify:
            self.verify_shards(range(len(self.shard_files)))

    # ------------------------------------------------------------ checks
    def _read_attrs(self, a: dict) -> None:
        m = self.master

        def attr(name, kind):
            if name not in a:
                raise CheckpointError(f"{m}: attribute {name!r} missing")
            v = a[name]
            v = v.item() if isinstance(v, np.generic) else v
            if kind == "int":
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                    return int(v)
                raise CheckpointError(f"{m}: attribute {name!r} is {safe_text(repr(v))[:80]}, "
                                      f"expected a non-negative integer")
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            if not isinstance(v, str):
                raise CheckpointError(f"{m}: attribute {name!r} is {safe_text(repr(v))[:80]}, expected text")
            if kind == "str":
                return v
            try:
                doc = json.loads(v)
            except (ValueError, RecursionError) as exc:
                raise CheckpointError(f"{m}: attribute {name!r} is not valid JSON "
                                      f"({safe_text(str(exc))[:120]})") from None
            want = dict if kind == "json-object" else list
            if not isinstance(doc, want):
                raise CheckpointError(f"{m}: attribute {name!r} is a JSON {type(doc).__name__}, expected "
                                      f"a JSON {'object' if want is dict else 'array'}")
            return doc

        if attr("format", "str") != FORMAT:
            raise CheckpointError(f"{m}: not an mpiml checkpoint (format={safe_text(a.get('format'))!r})")
        version = attr("format_version", "int")
        if version != FORMAT_VERSION:
            raise CheckpointError(f"{m}: checkpoint format {version}, this mpiml reads format {FORMAT_VERSION}")
        self.algorithm = attr("algorithm", "str")
        self.schema = attr("schema_version", "int")
        self.iteration = attr("iteration", "int")
        self.n_ranks = attr("n_ranks", "int")
        self.run_id = attr("run_id", "str")
        self.config = attr("config", "json-object")
        self.provenance = attr("provenance", "json-object")
        self.meta = attr("meta", "json-object")
        self.inputs = attr("inputs", "json-object")
        for what, mine, theirs in (("iteration", self.iteration, self.manifest["iteration"]),
                                   ("run_id", self.run_id, self.manifest["run_id"]),
                                   ("n_ranks", self.n_ranks, len(self.shard_files))):
            if mine != theirs:
                raise CheckpointError(f"{m}: attribute {what!r} is {safe_text(mine)!r}, the manifest "
                                      f"says {safe_text(theirs)!r}")

    def _walk(self, f, fname) -> dict:
        """Every dataset of ``f`` by path; soft/external links refused."""
        import h5py
        found = {}

        def rec(g, prefix, depth):
            if depth > 3:
                raise CheckpointError(f"{fname}: groups nested too deeply at {safe_text(prefix)!r}")
            for k in g.keys():
                full = prefix + k
                link = g.get(k, getlink=True)
                if isinstance(link, h5py.SoftLink):
                    raise CheckpointError(f"{fname}: {safe_text(full)!r} is a soft link to "
                                          f"{safe_text(link.path)!r}; links are refused in checkpoints")
                if isinstance(link, h5py.ExternalLink):
                    raise CheckpointError(f"{fname}: {safe_text(full)!r} is an external link to "
                                          f"{safe_text(link.filename)}:{safe_text(link.path)}; links are "
                                          f"refused in checkpoints")
                if not isinstance(link, h5py.HardLink):
                    raise CheckpointError(f"{fname}: {safe_text(full)!r} is a link of an unknown kind")
                obj = g[k]
                if isinstance(obj, h5py.Group):
                    rec(obj, full + "/", depth + 1)
                elif isinstance(obj, h5py.Dataset):
                    found[full] = obj
                else:
                    raise CheckpointError(f"{fname}: {safe_text(full)!r} is not a group or dataset")
        rec(f, "", 0)
        return found

    def _check_stored(self, fname, name, d, entry, shape) -> None:
        import h5py
        if list(d.shape) != list(shape) or d.dtype.str != np.dtype(entry["dtype"]).str:
            raise CheckpointError(f"{fname}: dataset {safe_text(name)!r} is {d.shape} {d.dtype}, the "
                                  f"manifest says {tuple(shape)} {entry['dtype']}")
        if d.is_virtual:
            raise CheckpointError(f"{fname}: dataset {safe_text(name)!r} is virtual; only the master's "
                                  f"distributed arrays may be")
        need = math.prod(shape) * d.dtype.itemsize
        if d.id.get_create_plist().get_layout() != h5py.h5d.CONTIGUOUS and need:
            raise CheckpointError(f"{fname}: dataset {safe_text(name)!r} is not stored contiguously")
        if d.id.get_storage_size() != need:
            raise CheckpointError(f"{fname}: dataset {safe_text(name)!r} claims shape {tuple(shape)} "
                                  f"({need} bytes) but stores {d.id.get_storage_size()} bytes")

    def _check_master(self, f) -> None:
        import h5py
        fname = self.master
        found = self._walk(f, fname)
        expected = set(self.arrays) | {"rank_state"}
        extra, missing = sorted(set(found) - expected), sorted(expected - set(found))
        if extra or missing:
            raise CheckpointError(f"{fname}: datasets differ from the manifest (unexpected: "
                                  f"{safe_text(extra[:5])}, missing: {safe_text(missing[:5])})")
        rs = found["rank_state"]
        if rs.shape != (len(self.shard_files),) or h5py.check_string_dtype(rs.dtype) is None:
            raise CheckpointError(f"{fname}: dataset 'rank_state' is {rs.shape} {rs.dtype}, expected "
                                  f"{len(self.shard_files)} strings")
        for name, entry in self.arrays.items():
            d = found[name]
            if name.startswith("replicated/"):
                self._check_stored(fname, name, d, entry, entry["shape"])
                continue
            if not d.is_virtual or list(d.shape) != entry["shape"] or d.dtype.str != np.dtype(entry["dtype"]).str:
                raise CheckpointError(f"{fname}: dataset {name!r} is not the virtual dataset "
                                      f"{tuple(entry['shape'])} {entry['dtype']} the manifest lists")
            want = sorted((s[0], s[1], s[2]) for s in entry["sources"] if s[2] > s[1])
            got = []
            key = name.split("/", 1)[1]
            for vs in d.virtual_sources():
                src = vs.file_name
                if src not in self.files or src == "master.h5" or "/" in src:
                    raise CheckpointError(f"{fname}: virtual dataset {name!r} maps file "
                                          f"{safe_text(src)!r}, which is not a shard of this checkpoint "
                                          f"(sources must be files inside {self.dir} listed in the manifest)")
                if vs.dset_name.lstrip("/") != key:
                    raise CheckpointError(f"{fname}: virtual dataset {name!r} maps "
                                          f"{safe_text(src)}:{safe_text(vs.dset_name)!r}, expected {key!r}")
                lo, hi = vs.vspace.get_select_bounds()
                got.append((src, int(lo[0]), int(hi[0]) + 1))
            if sorted(got) != want:
                raise CheckpointError(f"{fname}: virtual dataset {name!r} maps rows {safe_text(sorted(got))}, "
                                      f"the manifest says {want}")

    def verify_shards(self, indices) -> None:
        """Size, CRC32 of every byte and structure of the shards at ``indices``."""
        import h5py
        for i in indices:
            name = self.shard_files[i]
            p = mf.verify_file(self.dir, name, self.files[name])
            try:
                with h5py.File(p, "r") as f:
                    found = self._walk(f, p)
                    expected = {}
                    for aname, entry in self.arrays.items():
                        for src, lo, hi in entry.get("sources", ()):
                            if src == name:
                                expected[aname.split("/", 1)[1]] = (entry, [hi - lo, *entry["shape"][1:]])
                    if set(found) != set(expected):
                        raise CheckpointError(f"{p}: datasets {safe_text(sorted(found))} differ from the "
                                              f"manifest's {sorted(expected)}")
                    for key, (entry, shape) in expected.items():
                        self._check_stored(p, key, found[key], entry, shape)
            except CheckpointError:
                raise
            except _HDF5_ERRORS as exc:
                raise CheckpointError(f"{p}: cannot read the shard (not HDF5 or corrupt?): "
                                      f"{safe_text(exc)}") from None

    def expect(self, algorithm: str, schema: int) -> "Checkpoint":
        if self.algorithm != algorithm:
            raise CheckpointError(f"{self.dir} is a checkpoint of {safe_text(self.algorithm)!r}, not {algorithm!r}")
        if self.schema != schema:
            raise CheckpointError(f"{self.dir}: {algorithm} checkpoint schema {self.schema}, "
                                  f"this mpiml reads schema {schema}")
        return self

    # ----------------------------------------------------------------- arrays
    def _dataset(self, f, group, name):
        key = f"{group}/{name}"
        if key not in self.arrays:
            raise CheckpointError(f"{self.master}: no {group} array {name!r}")
        return f[key]

    def _read(self, fn):
        import h5py
        try:
            with h5py.File(self.master, "r") as f:
                return fn(f)
        except CheckpointError:
            raise
        except (*_HDF5_ERRORS, MemoryError) as exc:
            raise CheckpointError(f"{self.master}: reading failed: {safe_text(exc)}") from None

    def replicated(self, name: str) -> np.ndarray:
        return self._read(lambda f: self._dataset(f, "replicated", name)[()])

    def distributed_shape(self, name: str) -> tuple:
        if f"distributed/{name}" not in self.arrays:
            raise CheckpointError(f"{self.master}: no distributed array {name!r}")
        return tuple(self.arrays[f"distributed/{name}"]["shape"])

    def read_rows(self, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Rows ``[lo, hi)`` of a distributed array, whatever the rank count
        that wrote it (slice semantics: bounds are clipped to the array).

        Read from the shards themselves, at the rows the verified manifest
        maps (the same mapping as the master's virtual dataset, checked on
        open), not through the virtual dataset: HDF5 resolves a virtual
        dataset's relative source file names first in the directories of the
        ``HDF5_VDS_PREFIX`` environment variable, which it reads once when the
        library starts and which overrides the dataset-access prefix property,
        so a variable set in a user's environment would silently read
        same-named files outside the checkpoint.
        """
        import h5py
        key = f"distributed/{name}"
        if key not in self.arrays:
            raise CheckpointError(f"{self.master}: no distributed array {name!r}")
        entry = self.arrays[key]
        lo, hi, _ = slice(lo, hi).indices(entry["shape"][0])
        hi = max(lo, hi)
        out = np.empty((hi - lo, *entry["shape"][1:]), dtype=np.dtype(entry["dtype"]))
        for src, s_lo, s_hi in entry["sources"]:      # the manifest checked that they tile the rows
            a, b = max(lo, s_lo), min(hi, s_hi)
            if a < b:
                path = self.dir / src
                try:
                    with h5py.File(path, "r") as f:
                        out[a - lo:b - lo] = f[name][a - s_lo:b - s_lo]
                except (*_HDF5_ERRORS, MemoryError) as exc:
                    raise CheckpointError(f"{path}: reading rows of {name!r} failed: "
                                          f"{safe_text(exc)}") from None
        return out

    def rank_state(self, rank: int) -> dict:
        raw = self._read(lambda f: f["rank_state"][rank])
        try:
            doc = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{self.master}: rank_state[{rank}] is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise CheckpointError(f"{self.master}: rank_state[{rank}] is a JSON {type(doc).__name__}, "
                                  f"expected an object")
        return doc

    def _stats(self, name, d, entry) -> dict:
        """min/max/mean by hyperslabs of at most STATS_CHUNK_BYTES (of the
        shards for a distributed array, see :meth:`read_rows`)."""
        if not math.prod(entry["shape"]) or d.dtype.kind not in "fiub":
            return {}
        if d.ndim == 0:
            x = np.asarray(d[()], dtype=np.float64)
            return {"min": float(x), "max": float(x), "mean": float(x)}
        group, short = name.split("/", 1)
        rows = (lambda a, b: self.read_rows(short, a, b)) if group == "distributed" else (lambda a, b: d[a:b])
        row = max(1, math.prod(d.shape[1:]) * d.dtype.itemsize)
        step = max(1, STATS_CHUNK_BYTES // row)
        lo_v, hi_v, total = math.inf, -math.inf, 0.0
        for lo in range(0, d.shape[0], step):
            x = rows(lo, lo + step)
            if x.size:
                lo_v = min(lo_v, float(x.min()))
                hi_v = max(hi_v, float(x.max()))
                total += float(x.sum(dtype=np.float64))
        return {"min": lo_v, "max": hi_v, "mean": total / math.prod(d.shape)}

    def summary(self) -> dict:
        """Everything ``mpiml inspect`` shows, as JSON-able data (constant memory)."""
        def run(f):
            out = []
            for name in sorted(self.arrays):
                entry, d = self.arrays[name], f[name]
                out.append({"name": name, "shape": list(entry["shape"]), "dtype": str(d.dtype),
                            **self._stats(name, d, entry)})
            return out
        arrays = self._read(run)
        return {"path": str(self.dir), "algorithm": self.algorithm, "schema_version": self.schema,
                "iteration": self.iteration, "n_ranks": self.n_ranks, "config": self.config,
                "meta": self.meta, "provenance": self.provenance, "inputs": self.inputs,
                "run_id": self.run_id, "arrays": arrays, "shards": self.shards,
                "files": len(self.files), "bytes": sum(v["size"] for v in self.files.values()),
                "verified": True}


def newest_verified(root) -> tuple[Path | None, list[str]]:
    """The newest ``ckpt-*`` under ``root`` that verifies completely, and why
    each newer one was skipped (for ``--resume auto`` without LATEST)."""
    skipped = []
    for p in reversed(ckpt_entries(root)):
        if not CKPT_NAME.match(p.name):
            continue
        try:
            Checkpoint(p)
            return p, skipped
        except CheckpointError as exc:
            skipped.append(f"{p.name}: {exc}")
    return None, skipped


def load(comm, path, algorithm: str, schema: int) -> Checkpoint:
    """Collective.  Open a checkpoint on every rank, the ranks sharing the
    verification of its shards (round robin); any problem is the same error
    everywhere."""
    with comm.agree(f"opening checkpoint {path}"):
        ck = Checkpoint(path, verify=False).expect(algorithm, schema)
        ck.verify_shards(range(comm.rank, len(ck.shard_files), comm.size))
    return ck


__all__ = ["Checkpoint", "load", "newest_verified", "safe_text", "latest"]
