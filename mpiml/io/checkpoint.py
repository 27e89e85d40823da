"""HDF5 checkpoints: per-rank shard files + a master file of virtual datasets.

Layout of a checkpoint directory ``DIR``::

    DIR/.lock                  held (flock) by the run writing here
    DIR/LATEST                 name of the newest complete checkpoint ("ckpt-000010")
    DIR/ckpt-000010/master.h5  attributes (algorithm, schema, iteration, config, provenance,
                               run id, input fingerprints), /replicated/<name> arrays,
                               /distributed/<name> virtual datasets over the shards,
                               /rank_state (one JSON string per rank)
    DIR/ckpt-000010/shard-00003.h5   rank 3's rows of every distributed array
    DIR/ckpt-000010/MANIFEST.json    size + CRC32 of every byte of the files above,
                               shape and dtype of every array (see :mod:`.manifest`)

Writing is atomic: everything goes into ``DIR/.tmp-ckpt-...``, is fsynced,
then the directory is renamed into place (never over an existing one) and
LATEST is replaced the same way.  A crash or a write error at any point
leaves LATEST naming the previous complete checkpoint, and a write error
removes the temporary directory.  Pruning removes only checkpoints whose
manifest carries this run's id.

Data only: arrays, JSON strings and scalars; nothing is pickled.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# h5py is imported inside the functions that open HDF5 files: importing it
# maps libhdf5 and adds about 12 MiB to every process's peak RSS, and a run
# that neither writes nor reads a checkpoint never needs it.
from ..errors import CheckpointError, ConfigError
from . import manifest as mf

FORMAT = "mpiml-checkpoint"
# 2: MANIFEST.json covers every byte; run id and input fingerprints.
# Format 1 checkpoints (no manifest) are refused with a message saying so.
FORMAT_VERSION = 2
# HDF5 1.10 format bounds: Debian's h5dump/h5ls (1.10) can read the master,
# and virtual datasets need at least the 1.10 format.
LIBVER = ("v110", "v110")
CKPT_NAME = re.compile(r"^ckpt-(\d{6,})$")


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

    def nbytes(self) -> int:
        """Bytes of this rank's share of a checkpoint (replicated counted on rank 0 by the caller)."""
        return int(sum(np.asarray(v[0]).nbytes for v in self.distributed.values()))


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ckpt_name(iteration: int) -> str:
    return f"ckpt-{iteration:06d}"


def ckpt_entries(directory) -> list[Path]:
    """Every ``ckpt-*`` entry of ``directory`` (complete or not), oldest first."""
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.name.startswith("ckpt-"))


def latest(directory) -> Path | None:
    """The checkpoint LATEST names in ``directory``, or None without LATEST.

    LATEST must hold one plain ``ckpt-NNNNNN`` name of a real directory (not a
    link) inside ``directory``; anything else is a CheckpointError naming it.
    """
    d = Path(directory)
    pointer = d / "LATEST"
    if not os.path.lexists(pointer):
        return None
    if os.path.islink(pointer) or not pointer.is_file():
        raise CheckpointError(f"{pointer}: not a regular file (links are refused in checkpoints)")
    raw = pointer.read_bytes()[:256]
    name = raw.decode("utf-8", "replace").strip()
    if not CKPT_NAME.match(name):
        raise CheckpointError(f"{pointer} names {name!r}: expected a checkpoint name such as "
                              f"ckpt-000010 inside {d} (paths are refused)")
    target = d / name
    if os.path.islink(target):
        raise CheckpointError(f"{pointer} names {name}, which is a symbolic link to "
                              f"{os.readlink(target)!r}; links are refused in checkpoints")
    return target


def resolve(path) -> Path:
    """Accept a checkpoint root (with LATEST), a checkpoint dir, or a master.h5."""
    p = Path(path)
    if p.name in ("master.h5", mf.MANIFEST) and os.path.lexists(p) and not p.is_dir():
        p = p.parent
    if os.path.lexists(p / mf.MANIFEST) or os.path.lexists(p / "master.h5"):
        if os.path.islink(p):
            raise CheckpointError(f"{p}: the checkpoint directory is a symbolic link; give its real path")
        return p
    if p.is_dir():
        lt = latest(p)
        if lt is None:
            raise CheckpointError(f"{p}: no checkpoint here (no LATEST file and no master.h5)")
        if not (lt / mf.MANIFEST).is_file() and not (lt / "master.h5").is_file():
            raise CheckpointError(f"{p}/LATEST names {lt.name}, but {lt} holds no checkpoint")
        return lt
    raise CheckpointError(f"{p}: no such checkpoint file or directory")


def _write_failed(path, exc: OSError, root: Path) -> CheckpointError:
    prev = None
    try:
        prev = latest(root)
    except CheckpointError:
        pass
    kept = f"{prev.name} stays the newest checkpoint" if prev else "no earlier checkpoint exists"
    hint = " (disk full?)" if exc.errno == errno.ENOSPC else " (over quota?)" if exc.errno == errno.EDQUOT else ""
    return CheckpointError(f"{path}: writing the checkpoint failed: {exc.strerror or exc}{hint}; "
                           f"nothing was published, {kept}")


# --------------------------------------------------------------------- write
def write(comm, root, state: State, *, algorithm: str, schema: int, config: dict,
          provenance: dict, keep: int = 2, fault=None, run_id: str = "",
          inputs: dict | None = None, checksums: str = "stream") -> Path:
    """Collective.  Write ``state`` as a new checkpoint under ``root`` and
    publish it atomically; returns the checkpoint directory.

    ``run_id`` names the run's lineage (pruning removes only checkpoints of
    the same id); ``inputs`` are the input fingerprints recorded for resume.
    ``checksums``: "stream" (default) CRCs array bytes in memory while
    writing; "readback" reads the files back instead; "none" records no CRC
    (benchmark baseline only: such a checkpoint does not verify).
    ``fault`` is an optional callable run between writing the shards and
    publishing (fault-injection tests kill a rank there).
    Any I/O error is a CheckpointError on every rank; the temporary
    directory is removed and LATEST is untouched.
    """
    root = Path(root)
    name = _ckpt_name(state.iteration)
    run_id = run_id or uuid.uuid4().hex
    with comm.agree("creating the checkpoint directory"):
        tmp_name = None
        if comm.rank == 0:
            try:
                root.mkdir(parents=True, exist_ok=True)
                if os.path.lexists(root / name):
                    raise CheckpointError(f"{root / name} already exists; a checkpoint is never replaced "
                                          f"(the new one of iteration {state.iteration} was not written)")
                tmp_name = f".tmp-{name}-{run_id[:8]}-{uuid.uuid4().hex[:8]}"
                (root / tmp_name).mkdir()
            except OSError as exc:
                raise _write_failed(root, exc, root) from None
        tmp_name = comm.bcast_obj(tmp_name, kind="checkpoint")
    tmp = root / tmp_name
    published = False
    try:
        with comm.agree("writing checkpoint shards"):
            info = _write_shard(tmp, comm.rank, state, checksums, root)
        infos = comm.gather_obj(info, kind="checkpoint")

        if fault is not None:
            fault()

        with comm.agree("writing the checkpoint master file"):
            if comm.rank == 0:
                try:
                    _write_master(tmp, infos, state, algorithm, schema, config, provenance,
                                  run_id, inputs or {}, checksums)
                except OSError as exc:
                    raise _write_failed(tmp / "master.h5", exc, root) from None
        final = root / name
        with comm.agree("publishing the checkpoint"):
            if comm.rank == 0:
                _publish(root, tmp, final)
                published = True
                _prune(root, keep, final, run_id)
    except BaseException:
        if comm.rank == 0 and not published:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_shard(tmp: Path, rank: int, state: State, checksums: bool, root: Path) -> dict:
    import h5py
    path = tmp / f"shard-{rank:05d}.h5"
    layout = {}
    sw = mf.SegmentWriter(checksums == "stream")
    try:
        f = h5py.File(path, "w", libver=LIBVER)
        try:
            f.attrs["rank"] = rank
            f.attrs["rank_state"] = json.dumps(state.rank_state)
            for key, (local, offset, total) in sorted(state.distributed.items()):
                local = np.ascontiguousarray(local)
                sw.write_dataset(f, key, local)
                layout[key] = (int(offset), int(total), list(local.shape), local.dtype.str)
            # An explicit flush raises a write error here; left to close() in
            # a destructor, HDF5's error would be lost.
            f.flush()
            segs = sw.segments(path)
        finally:
            f.close()
        _fsync_path(path)
        entry = mf.finish_file(path, segs, read_missing=checksums != "none")
    except OSError as exc:
        raise _write_failed(path, exc, root) from None
    finally:
        sw.close()
    return {"file": path.name, **entry, "layout": layout, "rank_state": json.dumps(state.rank_state)}


def _write_master(tmp: Path, infos, state, algorithm, schema, config, provenance, run_id, inputs,
                  checksums):
    import h5py
    arrays = {}
    sw = mf.SegmentWriter(checksums == "stream")
    path = tmp / "master.h5"
    try:
        with h5py.File(path, "w", libver=LIBVER) as f:
            a = f.attrs
            a["format"] = FORMAT
            a["format_version"] = FORMAT_VERSION
            a["algorithm"] = algorithm
            a["schema_version"] = int(schema)
            a["iteration"] = int(state.iteration)
            a["n_ranks"] = len(infos)
            a["run_id"] = run_id
            a["config"] = json.dumps(config, sort_keys=True)
            a["provenance"] = json.dumps(provenance, sort_keys=True)
            a["meta"] = json.dumps(state.meta, sort_keys=True)
            a["inputs"] = json.dumps(inputs, sort_keys=True)
            a["shards"] = json.dumps([{k: i[k] for k in ("file", "size")} for i in infos])
            rep = f.create_group("replicated")
            for key, arr in sorted(state.replicated.items()):
                arr = np.asarray(arr)
                sw.write_dataset(rep, key, arr)
                arrays[f"replicated/{key}"] = {"shape": list(arr.shape), "dtype": arr.dtype.str}
            f.create_dataset("rank_state", data=np.array([i["rank_state"] for i in infos], dtype=object),
                             dtype=h5py.string_dtype())
            dist = f.create_group("distributed")
            for key in sorted(infos[0]["layout"]):
                arrays[f"distributed/{key}"] = _virtual(dist, key, infos)
            f.flush()
            segs = sw.segments(path)
    finally:
        sw.close()
    _fsync_path(path)
    files = {"master.h5": mf.finish_file(path, segs, read_missing=checksums != "none")}
    for i in infos:
        files[i["file"]] = {"size": i["size"], "segments": i["segments"]}
    mf.write_manifest(tmp, {"format_version": FORMAT_VERSION, "run_id": run_id,
                            "iteration": int(state.iteration), "algorithm": algorithm,
                            "checksum": "crc32", "files": files, "arrays": arrays})
    _fsync_path(tmp)


def _virtual(dist, key, infos) -> dict:
    import h5py
    blocks = [(r, i["layout"][key]) for r, i in enumerate(infos)]
    total, tail, dtype = blocks[0][1][1], blocks[0][1][2][1:], np.dtype(blocks[0][1][3])
    vl = h5py.VirtualLayout(shape=(total, *tail), dtype=dtype)
    covered, sources = 0, []
    for r, (offset, _, shape, _) in sorted(blocks, key=lambda b: b[1][0]):
        if offset != covered:
            raise CheckpointError(f"distributed array {key!r}: rank {r} starts at row "
                                  f"{offset}, expected {covered} (blocks must tile the array)")
        if shape[0]:
            # Relative file name: resolved against the master's directory,
            # so the checkpoint can be moved as a whole.
            vl[offset:offset + shape[0]] = h5py.VirtualSource(infos[r]["file"], key, shape=tuple(shape))
            sources.append([infos[r]["file"], offset, offset + shape[0]])
        covered += shape[0]
    if covered != total:
        raise CheckpointError(f"distributed array {key!r}: blocks cover {covered} of {total} rows")
    dist.create_virtual_dataset(key, vl, fillvalue=0)
    return {"shape": [total, *tail], "dtype": dtype.str, "sources": sources}


def _publish(root: Path, tmp: Path, final: Path) -> None:
    # rename(2) of a directory onto an existing non-empty directory fails
    # (ENOTEMPTY/EEXIST), so an existing checkpoint is never replaced, even
    # if one appeared after the check at the start of write().
    try:
        os.rename(tmp, final)
    except OSError as exc:
        raise CheckpointError(f"{final} already exists or cannot be created ({exc.strerror}); "
                              f"a checkpoint is never replaced, the new one was not published") from None
    _fsync_path(root)
    pointer_tmp = root / f".LATEST-{uuid.uuid4().hex[:8]}"
    pointer_tmp.write_text(final.name + "\n")
    _fsync_path(pointer_tmp)
    os.replace(pointer_tmp, root / "LATEST")
    _fsync_path(root)


def run_id_of(ckpt_dir: Path) -> str | None:
    """The run id in ``ckpt_dir``'s manifest, or None if unreadable."""
    try:
        doc = json.loads((Path(ckpt_dir) / mf.MANIFEST).read_bytes()[:mf.MAX_MANIFEST_BYTES])
        rid = doc.get("run_id") if isinstance(doc, dict) else None
        return rid if isinstance(rid, str) else None
    except (OSError, ValueError, RecursionError):
        return None


def _prune(root: Path, keep: int, current: Path, run_id: str) -> None:
    """Remove this run's older checkpoints beyond ``keep`` and this run's
    abandoned temporary directories; other runs' files are never touched."""
    for p in root.glob(f".tmp-ckpt-*-{run_id[:8]}-*"):
        # Left by a crashed writer of this lineage (we hold the directory's
        # lock, so no other writer of it is running); never published.
        shutil.rmtree(p, ignore_errors=True)
    if keep <= 0:
        return
    mine = [p for p in ckpt_entries(root)
            if CKPT_NAME.match(p.name) and p.is_dir() and not p.is_symlink() and run_id_of(p) == run_id]
    for p in mine[:-keep]:
        if p != current:
            shutil.rmtree(p, ignore_errors=True)


def check_writable_root(root, resume: bool) -> None:
    """Refuse to start a fresh run in a directory that already holds any
    ``ckpt-*`` entry (complete or not) or a LATEST pointer."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--checkpoint-dir {root} exists and is not a directory")
    if resume:
        return
    found = ckpt_entries(root)
    if found or os.path.lexists(root / "LATEST"):
        what = found[-1].name if found else "LATEST"
        raise ConfigError(f"{root} already holds a checkpoint ({what}); continue it with "
                          f"--resume {root} (or --resume auto), or choose another --checkpoint-dir")
