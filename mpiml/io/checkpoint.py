"""HDF5 checkpoints: per-rank shard files + a master file of virtual datasets.

Layout of a checkpoint directory ``DIR``::

    DIR/LATEST                 name of the newest complete checkpoint ("ckpt-000010")
    DIR/ckpt-000010/master.h5  attributes (algorithm, schema, iteration, config, provenance,
                               shard sizes and CRC32), /replicated/<name> arrays,
                               /distributed/<name> virtual datasets over the shards,
                               /rank_state (one JSON string per rank)
    DIR/ckpt-000010/shard-00003.h5   rank 3's rows of every distributed array

Writing is atomic: everything goes into ``DIR/.tmp-ckpt-...``, is fsynced,
then the directory is renamed into place and LATEST is replaced the same way.
A crash at any point leaves LATEST naming the previous complete checkpoint.
Loading checks every shard's size and CRC32, because a missing shard behind a
virtual dataset reads silently as fill values.

Data only: arrays, JSON strings and scalars; nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import CheckpointError, ConfigError

FORMAT = "mpiml-checkpoint"
FORMAT_VERSION = 1
# HDF5 1.10 format bounds: Debian's h5dump/h5ls (1.10) can read the master,
# and virtual datasets need at least the 1.10 format.
LIBVER = ("v110", "v110")


@dataclass
class State:
    """What an algorithm hands to the checkpoint writer.

    replicated : arrays identical on every rank (rank 0 writes them)
    distributed: name -> (local rows, global row offset, global row count);
                 the row blocks of all ranks tile the global array
    rank_state : JSON-able dict of this rank's private state (RNG, cursors)
    meta       : JSON-able dict identical on every rank (histories, step sizes)
    """

    iteration: int
    replicated: dict = field(default_factory=dict)
    distributed: dict = field(default_factory=dict)
    rank_state: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def _ckpt_name(iteration: int) -> str:
    return f"ckpt-{iteration:06d}"


def latest(directory) -> Path | None:
    """The newest complete checkpoint in ``directory`` (via LATEST), or None."""
    d = Path(directory)
    pointer = d / "LATEST"
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    return d / name


def resolve(path) -> Path:
    """Accept a checkpoint root (with LATEST), a checkpoint dir, or a master.h5."""
    p = Path(path)
    if p.is_file() and p.name == "master.h5":
        return p.parent
    if (p / "master.h5").is_file():
        return p
    if p.is_dir():
        lt = latest(p)
        if lt is None:
            raise CheckpointError(f"{p}: no checkpoint here (no LATEST file and no master.h5)")
        if not (lt / "master.h5").is_file():
            raise CheckpointError(f"{p}/LATEST names {lt.name}, but {lt}/master.h5 does not exist")
        return lt
    raise CheckpointError(f"{p}: no such checkpoint file or directory")


# --------------------------------------------------------------------- write
def write(comm, root, state: State, *, algorithm: str, schema: int, config: dict,
          provenance: dict, keep: int = 2, fault=None) -> Path:
    """Collective.  Write ``state`` as a new checkpoint under ``root`` and
    publish it atomically; returns the checkpoint directory.

    ``fault`` is an optional callable run between writing the shards and
    publishing (fault-injection tests kill a rank there).
    """
    root = Path(root)
    name = _ckpt_name(state.iteration)
    with comm.agree("creating the checkpoint directory"):
        tmp_name = None
        if comm.rank == 0:
            root.mkdir(parents=True, exist_ok=True)
            tmp_name = f".tmp-{name}-{uuid.uuid4().hex[:8]}"
            (root / tmp_name).mkdir()
        tmp_name = comm.bcast_obj(tmp_name, kind="checkpoint")
    tmp = root / tmp_name

    shard = f"shard-{comm.rank:05d}.h5"
    with comm.agree("writing checkpoint shards"):
        layout = {}
        with h5py.File(tmp / shard, "w", libver=LIBVER) as f:
            f.attrs["rank"] = comm.rank
            f.attrs["rank_state"] = json.dumps(state.rank_state)
            for key, (local, offset, total) in sorted(state.distributed.items()):
                local = np.ascontiguousarray(local)
                f.create_dataset(key, data=local)
                layout[key] = (int(offset), int(total), list(local.shape), local.dtype.str)
        _fsync_path(tmp / shard)
        info = {"file": shard, "size": (tmp / shard).stat().st_size, "crc32": _crc32(tmp / shard),
                "layout": layout, "rank_state": json.dumps(state.rank_state)}
    infos = comm.gather_obj(info, kind="checkpoint")

    if fault is not None:
        fault()

    with comm.agree("writing the checkpoint master file"):
        if comm.rank == 0:
            _write_master(tmp, infos, state, algorithm, schema, config, provenance)
    final = root / name
    with comm.agree("publishing the checkpoint"):
        if comm.rank == 0:
            _publish(root, tmp, final)
            _prune(root, keep, final)
    return final


def _write_master(tmp: Path, infos, state, algorithm, schema, config, provenance):
    with h5py.File(tmp / "master.h5", "w", libver=LIBVER) as f:
        a = f.attrs
        a["format"] = FORMAT
        a["format_version"] = FORMAT_VERSION
        a["algorithm"] = algorithm
        a["schema_version"] = int(schema)
        a["iteration"] = int(state.iteration)
        a["n_ranks"] = len(infos)
        a["config"] = json.dumps(config, sort_keys=True)
        a["provenance"] = json.dumps(provenance, sort_keys=True)
        a["meta"] = json.dumps(state.meta, sort_keys=True)
        a["shards"] = json.dumps([{k: i[k] for k in ("file", "size", "crc32")} for i in infos])
        rep = f.create_group("replicated")
        for key, arr in sorted(state.replicated.items()):
            rep.create_dataset(key, data=np.asarray(arr))
        f.create_dataset("rank_state", data=np.array([i["rank_state"] for i in infos], dtype=object),
                         dtype=h5py.string_dtype())
        dist = f.create_group("distributed")
        for key in sorted(infos[0]["layout"]):
            blocks = [(r, i["layout"][key]) for r, i in enumerate(infos)]
            total, tail, dtype = blocks[0][1][1], blocks[0][1][2][1:], np.dtype(blocks[0][1][3])
            vl = h5py.VirtualLayout(shape=(total, *tail), dtype=dtype)
            covered = 0
            for r, (offset, _, shape, _) in sorted(blocks, key=lambda b: b[1][0]):
                if offset != covered:
                    raise CheckpointError(f"distributed array {key!r}: rank {r} starts at row "
                                          f"{offset}, expected {covered} (blocks must tile the array)")
                if shape[0]:
                    # Relative file name: resolved against the master's directory,
                    # so the checkpoint can be moved as a whole.
                    vl[offset:offset + shape[0]] = h5py.VirtualSource(infos[r]["file"], key, shape=tuple(shape))
                covered += shape[0]
            if covered != total:
                raise CheckpointError(f"distributed array {key!r}: blocks cover {covered} of {total} rows")
            dist.create_virtual_dataset(key, vl, fillvalue=0)
    _fsync_path(tmp / "master.h5")
    _fsync_path(tmp)


def _publish(root: Path, tmp: Path, final: Path) -> None:
    if final.exists():
        # Same iteration written again (e.g. a resumed run's final step):
        # move the old one aside first; LATEST still names a complete copy
        # until the new pointer is in place.
        old = root / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_path(root)
    pointer_tmp = root / f".LATEST-{uuid.uuid4().hex[:8]}"
    pointer_tmp.write_text(final.name + "\n")
    _fsync_path(pointer_tmp)
    os.replace(pointer_tmp, root / "LATEST")
    _fsync_path(root)


def _prune(root: Path, keep: int, current: Path) -> None:
    if keep <= 0:
        return
    ckpts = sorted(p for p in root.glob("ckpt-*") if p.is_dir())
    for p in ckpts[:-keep]:
        if p != current:
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".tmp-ckpt-*"):
        # Left by a crashed writer; never published, safe to remove.
        if time.time() - p.stat().st_mtime > 60:
            shutil.rmtree(p, ignore_errors=True)


def check_writable_root(root, resume: bool) -> None:
    """Refuse to start a fresh run in a directory that already holds a checkpoint."""
    root = Path(root)
    if resume:
        return
    lt = latest(root) if root.is_dir() else None
    if lt is not None:
        raise ConfigError(f"{root} already holds a checkpoint ({lt.name}); continue it with "
                          f"--resume {root} (or --resume auto), or choose another --checkpoint-dir")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--checkpoint-dir {root} exists and is not a directory")
