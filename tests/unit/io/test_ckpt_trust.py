"""Issue 10: checkpoints that can be trusted (one test per failure class).

Each test would have passed silently, or failed with another exception, on
the code before the manifest/confinement/lock work; each asserts the error
class, a message naming the file or link, and that what existed before is
still present and verifies.
"""

import errno
import json
import os
import shutil
import subprocess
import tracemalloc

import h5py
import numpy as np
import pytest

import mpiml.io.checkpoint as ckmod
from mpiml.errors import CheckpointError, CollectiveError, ConfigError
from mpiml.io.checkpoint import State, check_writable_root, latest, write
from mpiml.io.ckpt_read import Checkpoint
from tests.fakecomm import run_ranks
from tests.unit.io.craft import data_offset, flip, reseal
from tests.unit.io.test_checkpoint import N, write_ckpt


def verifies(path, iteration):
    ck = Checkpoint(path)
    assert ck.iteration == iteration
    assert np.array_equal(ck.read_rows("labels"), np.arange(N) * 2)
    return ck


# ------------------------------------------------------------ class 1: manifest
def test_flipped_bit_in_master_data_is_detected(tmp_path):
    path = write_ckpt(tmp_path / "ck", 2)
    flip(path / "master.h5", data_offset(path / "master.h5", "replicated/centers") + 3)
    with pytest.raises(CheckpointError, match=r"master.h5: CRC32 of bytes .* \(corrupt\)"):
        Checkpoint(tmp_path / "ck")


def test_edited_master_attribute_is_detected(tmp_path):
    path = write_ckpt(tmp_path / "ck", 2)
    with h5py.File(path / "master.h5", "r+") as f:
        f.attrs["config"] = json.dumps({"k": 4})
    with pytest.raises(CheckpointError, match=r"master.h5: .*(CRC32|bytes, the manifest says)"):
        Checkpoint(tmp_path / "ck")


def test_shard_checksums_are_computed_while_writing(tmp_path, monkeypatch):
    """The array bytes of a shard are CRC-ed in memory; only HDF5 metadata
    (a few KiB) is read back."""
    from mpiml.io import manifest as mf
    read_back = []
    real = mf.crc_file_range
    monkeypatch.setattr(mf, "crc_file_range",
                        lambda fh, off, n: (read_back.append(n), real(fh, off, n))[1])

    def work(comm):
        st = State(iteration=1, distributed={"w": (np.ones((1 << 17, 4)), comm.rank << 17, 2 << 17)})
        return write(comm, tmp_path / "ck", st, algorithm="x", schema=1, config={}, provenance={})
    path = run_ranks(2, work)[0]
    shard = (path / "shard-00000.h5").stat().st_size
    assert shard > 4 << 20
    total = sum(p.stat().st_size for p in path.glob("*.h5"))
    assert sum(read_back) < 0.05 * total, sum(read_back)
    read_back.clear()
    Checkpoint(path)
    assert sum(read_back) == total        # verification reads every byte of every file


def test_checkpoint_without_manifest_is_refused_clearly(tmp_path):
    path = write_ckpt(tmp_path / "ck", 1)
    os.remove(path / "MANIFEST.json")
    with pytest.raises(CheckpointError, match="no MANIFEST.json: written by mpiml before checkpoint format 2"):
        Checkpoint(tmp_path / "ck")


# --------------------------------------------------------- class 2: confinement
def _replace_vds(path, target_file, key="labels"):
    with h5py.File(path / "master.h5", "r+") as f:
        del f["distributed"][key]
        vl = h5py.VirtualLayout(shape=(N,), dtype=np.int64)
        vl[:] = h5py.VirtualSource(str(target_file), key, shape=(N,))
        f["distributed"].create_virtual_dataset(key, vl, fillvalue=0)
    reseal(path)


def test_virtual_source_outside_the_checkpoint_is_refused(tmp_path):
    path = write_ckpt(tmp_path / "ck", 1)
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f["labels"] = np.full(N, 7, np.int64)
    _replace_vds(path, outside)
    with pytest.raises(CheckpointError, match=r"virtual dataset 'distributed/labels' maps file '.*outside.h5'"):
        Checkpoint(tmp_path / "ck").read_rows("labels")


def test_missing_virtual_source_is_refused_not_zeros(tmp_path):
    path = write_ckpt(tmp_path / "ck", 1)
    _replace_vds(path, "shard-00009.h5")
    with pytest.raises(CheckpointError, match="shard-00009.h5"):
        Checkpoint(tmp_path / "ck").read_rows("labels")


@pytest.mark.parametrize("kind", ["external", "soft"])
def test_links_in_the_master_are_refused(tmp_path, kind):
    path = write_ckpt(tmp_path / "ck", 1)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3.0)
    with h5py.File(path / "master.h5", "r+") as f:
        f["replicated"]["x"] = (h5py.ExternalLink(str(other), "x") if kind == "external"
                                else h5py.SoftLink("/replicated/centers"))
    reseal(path, arrays={"replicated/x": {"shape": [3], "dtype": "<f8"}})
    with pytest.raises(CheckpointError, match=f"'replicated/x' is an? {kind} link"):
        Checkpoint(tmp_path / "ck").replicated("x")


def test_latest_pointing_outside_is_refused(tmp_path):
    write_ckpt(tmp_path / "a", 1)
    write_ckpt(tmp_path / "b", 1)
    (tmp_path / "a" / "LATEST").write_text("../b/ckpt-000004\n")
    with pytest.raises(CheckpointError, match=r"a/LATEST names '../b/ckpt-000004'"):
        Checkpoint(tmp_path / "a")


def test_symlinked_shard_is_refused(tmp_path):
    path = write_ckpt(tmp_path / "ck", 2)
    shutil.move(path / "shard-00001.h5", tmp_path / "elsewhere.h5")
    os.symlink(tmp_path / "elsewhere.h5", path / "shard-00001.h5")
    with pytest.raises(CheckpointError, match="shard-00001.h5: shard is a symbolic link"):
        Checkpoint(tmp_path / "ck")


def test_non_hdf5_shard_is_a_checkpoint_error(tmp_path):
    path = write_ckpt(tmp_path / "ck", 2)
    (path / "shard-00001.h5").write_text("this is not HDF5\n" * 100)
    reseal(path)
    with pytest.raises(CheckpointError, match="shard-00001.h5: cannot read the shard"):
        Checkpoint(tmp_path / "ck")


# ------------------------------------------------- class 3: never destroy data
def test_fresh_run_refuses_checkpoints_without_latest(tmp_path):
    write_ckpt(tmp_path / "ck", 1)
    os.remove(tmp_path / "ck" / "LATEST")
    with pytest.raises(ConfigError, match=r"already holds a checkpoint \(ckpt-000004\)"):
        check_writable_root(tmp_path / "ck", resume=False)


def test_resume_auto_without_latest_takes_newest_that_verifies(tmp_path):
    from mpiml.runtime.loop import RunOptions, resolve_resume
    for it in (1, 2, 3):
        write_ckpt(tmp_path / "ck", 2, iteration=it, keep=0)
    os.remove(tmp_path / "ck" / "LATEST")
    flip(tmp_path / "ck" / "ckpt-000003" / "shard-00001.h5", 40)
    got = resolve_resume(RunOptions(resume="auto", checkpoint_dir=str(tmp_path / "ck")))
    assert got is not None and os.path.basename(str(got)) == "ckpt-000002"
    verifies(got, 2)
    assert sorted(p.name for p in (tmp_path / "ck").glob("ckpt-*")) == \
        ["ckpt-000001", "ckpt-000002", "ckpt-000003"]


def test_publishing_never_replaces_an_existing_checkpoint(tmp_path):
    write_ckpt(tmp_path / "ck", 2, iteration=4)
    before = (tmp_path / "ck" / "ckpt-000004" / "MANIFEST.json").read_bytes()
    with pytest.raises(CollectiveError, match="ckpt-000004 already exists; a checkpoint is never replaced"):
        write_ckpt(tmp_path / "ck", 2, iteration=4, run_id="run-b")
    assert (tmp_path / "ck" / "ckpt-000004" / "MANIFEST.json").read_bytes() == before
    verifies(tmp_path / "ck", 4)
    assert not list((tmp_path / "ck").glob(".tmp-*"))


def test_pruning_only_removes_this_runs_lineage(tmp_path):
    for it in (1, 2):
        write_ckpt(tmp_path / "ck", 2, iteration=it, run_id="run-a")
    for it in (3, 4, 5):
        write_ckpt(tmp_path / "ck", 2, iteration=it, run_id="run-b")
    assert sorted(p.name for p in (tmp_path / "ck").glob("ckpt-*")) == \
        ["ckpt-000001", "ckpt-000002", "ckpt-000004", "ckpt-000005"]
    for it in (1, 2, 4, 5):
        verifies(tmp_path / "ck" / f"ckpt-{it:06d}", it)


def test_second_lock_names_the_holder(tmp_path):
    from mpiml.io.ckpt_guard import DirLock
    a = DirLock(tmp_path / "ck", job_id="111")
    a.acquire()
    try:
        b = DirLock(tmp_path / "ck", job_id="222")
        with pytest.raises(CheckpointError, match=rf"in use by another run: host \S+, PID {os.getpid()}, job 111"):
            b.acquire()
    finally:
        a.release()
    b = DirLock(tmp_path / "ck", job_id="222")
    b.acquire()          # released: free again
    b.release()
    assert not (tmp_path / "ck" / ".lock").exists()


def test_lock_of_a_dead_process_is_free(tmp_path):
    """flock is released by the kernel when its holder dies (kill -9 included)."""
    (tmp_path / "ck").mkdir()
    code = ("import sys, os; sys.path.insert(0, sys.argv[2]); from mpiml.io.ckpt_guard import DirLock; "
            "DirLock(sys.argv[1]).acquire(); os._exit(9)")
    import sys
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "ck"), os.getcwd()], check=False)
    from mpiml.io.ckpt_guard import DirLock
    lk = DirLock(tmp_path / "ck")
    lk.acquire()
    lk.release()


# ----------------------------------------------------- class 4: write failures
def test_simulated_enospc_is_checkpoint_error_everywhere_and_cleans_up(tmp_path, monkeypatch):
    write_ckpt(tmp_path / "ck", 3, iteration=1)
    real = ckmod._fsync_path

    def full_disk(path):
        if str(path).endswith("shard-00002.h5"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path)
    monkeypatch.setattr(ckmod, "_fsync_path", full_disk)
    with pytest.raises(CollectiveError) as info:
        write_ckpt(tmp_path / "ck", 3, iteration=2)
    assert info.value.exit_code == 3 and info.value.origin_rank == 2
    assert "shard-00002.h5: writing the checkpoint failed: No space left on device (disk full?)" in str(info.value)
    assert "ckpt-000001 stays the newest checkpoint" in str(info.value)
    monkeypatch.setattr(ckmod, "_fsync_path", real)
    verifies(tmp_path / "ck", 1)
    assert latest(tmp_path / "ck").name == "ckpt-000001"
    assert not list((tmp_path / "ck").glob(".tmp-*")) and not (tmp_path / "ck" / "ckpt-000002").exists()


@pytest.fixture
def small_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the simulated ENOSPC test covers the logic")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount tmpfs here: {res.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_real_disk_full_keeps_previous_checkpoint(small_tmpfs):
    root = small_tmpfs / "ck"
    write_ckpt(root, 2, iteration=1)

    def big(comm):
        st = State(iteration=2, distributed={"labels": (np.zeros(1 << 17, np.int64), comm.rank << 17, 2 << 17)})
        return write(comm, root, st, algorithm="kmeans", schema=1, config={"k": 3}, provenance={},
                     run_id="run-a")
    with pytest.raises(CollectiveError) as info:
        run_ranks(2, big)
    assert info.value.exit_code == 3 and "No space left on device" in str(info.value), str(info.value)
    assert latest(root).name == "ckpt-000001"
    verifies(root, 1)
    assert not list(root.glob(".tmp-*")) and not (root / "ckpt-000002").exists()


# ------------------------------------------------------ class 7: bounded reads
def test_inspect_statistics_stream_in_constant_memory(tmp_path, monkeypatch):
    import mpiml.io.ckpt_read as rd
    monkeypatch.setattr(rd, "STATS_CHUNK_BYTES", 1 << 18, raising=False)

    def work(comm):
        lo = comm.rank * (1 << 19)
        st = State(iteration=1, distributed={"w": (np.arange(lo, lo + (1 << 19), dtype=np.float64), lo, 1 << 20)})
        return write(comm, tmp_path / "ck", st, algorithm="x", schema=1, config={}, provenance={})
    run_ranks(2, work)
    ck = Checkpoint(tmp_path / "ck")
    tracemalloc.start()
    s = ck.summary()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    w = next(a for a in s["arrays"] if a["name"] == "distributed/w")
    assert (w["min"], w["max"], w["mean"]) == (0.0, (1 << 20) - 1.0, ((1 << 20) - 1) / 2)
    assert peak < 3 << 20, peak          # the array is 8 MiB


def test_crafted_huge_shape_is_refused_before_allocation(tmp_path):
    path = write_ckpt(tmp_path / "ck", 1)
    with h5py.File(path / "master.h5", "r+") as f:
        del f["replicated"]["centers"]
        f["replicated"].create_dataset("centers", shape=(1 << 40, 2), dtype="<f8")
    reseal(path, arrays={"replicated/centers": {"shape": [1 << 40, 2], "dtype": "<f8"}})
    with pytest.raises(CheckpointError, match=r"'replicated/centers' claims shape \(1099511627776, 2\)"):
        Checkpoint(tmp_path / "ck").replicated("centers")


def test_inspect_escapes_control_characters(tmp_path, capsys):
    from types import SimpleNamespace

    from mpiml.cli import inspect_cmd

    def work(comm):
        st = State(iteration=1, replicated={"c": np.zeros(2)})
        return write(comm, tmp_path / "ck", st, algorithm="kmeans", schema=1,
                     config={"k": "\x1b[2J\x1b]0;owned\x07"}, provenance={"hosts": ["h\x1b[31m"]})
    run_ranks(1, work)
    assert inspect_cmd.run(SimpleNamespace(path=str(tmp_path / "ck"), json=False)) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out and "h\\x1b[31m" in out


# ---------------------------------------------------- class 8: bad attributes
@pytest.mark.parametrize("attr,value,message", [
    ("config", json.dumps([1, 2]), "attribute 'config' is a JSON list, expected a JSON object"),
    ("format_version", "abc", "attribute 'format_version' is 'abc', expected a non-negative integer"),
    ("meta", "[" * 100000 + "]" * 100000, "attribute 'meta' is not valid JSON"),
    ("iteration", 2.5, "attribute 'iteration' is 2.5, expected a non-negative integer"),
])
def test_malformed_attribute_is_a_checkpoint_error_naming_it(tmp_path, attr, value, message):
    path = write_ckpt(tmp_path / "ck", 1)
    with h5py.File(path / "master.h5", "r+") as f:
        f.attrs[attr] = value
    reseal(path)
    with pytest.raises(CheckpointError, match="master.h5: " + message.replace("(", r"\(").replace(")", r"\)")):
        Checkpoint(tmp_path / "ck")


def test_probe_and_free_space_warning(tmp_path):
    from mpiml.io.ckpt_guard import free_space_warning, probe_dir
    probe_dir(tmp_path / "new" / "dir", "--checkpoint-dir", "0")
    assert (tmp_path / "new" / "dir").is_dir() and not list((tmp_path / "new" / "dir").iterdir())
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"--checkpoint-dir .*/f/ck: not writable \(Not a directory\)"):
        probe_dir(tmp_path / "f" / "ck", "--checkpoint-dir", "0")
    assert free_space_warning(tmp_path, 1) is None
    msg = free_space_warning(tmp_path, 1 << 62)
    assert msg and "MiB free, a checkpoint needs about" in msg


def test_lock_without_flock_falls_back_to_an_exclusive_file(tmp_path, monkeypatch, capsys):
    """On a file system where flock fails (ENOLCK), the O_EXCL lock file is the
    lock: a live holder is refused, a dead holder on this host is taken over."""
    import fcntl
    import socket

    from mpiml.io import ckpt_guard

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_flock)
    a = ckpt_guard.DirLock(tmp_path / "ck", job_id="7")
    a.acquire()
    with pytest.raises(CheckpointError, match=rf"PID {os.getpid()}, job 7.*no working flock.*remove the lock file"):
        ckpt_guard.DirLock(tmp_path / "ck").acquire()
    a.release()
    assert not (tmp_path / "ck" / ".lock").exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "ck" / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid,
                                                       "job_id": None, "started": "then"}))
    b = ckpt_guard.DirLock(tmp_path / "ck")
    b.acquire()
    assert "taking over the stale lock" in capsys.readouterr().err
    assert json.loads((tmp_path / "ck" / ".lock").read_text())["pid"] == os.getpid()
    b.release()


@pytest.mark.parametrize("dtype", ["abc", "[('a',", "O", "<U4"])
def test_manifest_with_a_bad_dtype_is_a_checkpoint_error(tmp_path, dtype):
    path = write_ckpt(tmp_path / "ck", 1)
    reseal(path, arrays={"replicated/centers": {"shape": [3, 2], "dtype": dtype}})
    with pytest.raises(CheckpointError, match=r"MANIFEST.json: malformed manifest field 'arrays.replicated/centers.dtype'"):
        Checkpoint(tmp_path / "ck")
