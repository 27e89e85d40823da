"""Checkpoints: round trip over rank counts, atomic publish, every corruption case."""

import inspect
import json
import os
import shutil

import h5py
import numpy as np
import pytest

from mpiml.errors import CheckpointError, ConfigError
from mpiml.io.checkpoint import State, check_writable_root, latest, write
from mpiml.io.ckpt_read import Checkpoint
from mpiml.partition import block_range
from tests.fakecomm import run_ranks

N = 17
# Lets the tests of issue 10 run (and fail) against the code before it.
_HAS_RUN_ID = "run_id" in inspect.signature(write).parameters


def write_ckpt(root, n_ranks, iteration=4, fault=None, algorithm="kmeans", run_id="run-a", **kw):
    def work(comm):
        lo, hi = block_range(N, comm.size, comm.rank)
        rows = np.arange(lo, hi, dtype=np.int64)
        st = State(iteration=iteration,
                   replicated={"centers": np.arange(6.0).reshape(3, 2) * iteration},
                   distributed={"labels": (rows * 2, lo, N),
                                "emb": (np.outer(rows, [1.0, -1.0]).astype(np.float32), lo, N)},
                   rank_state={"rng": {"state": 2**100 + comm.rank}, "cursor": int(hi)},
                   meta={"history": [1.5, 2.5]})
        return write(comm, root, st, algorithm=algorithm, schema=1, config={"k": 3},
                     provenance={"mpiml": "test"}, fault=fault if comm.rank == 1 else None,
                     **({"run_id": run_id} if run_id and _HAS_RUN_ID else {}), **kw)
    return run_ranks(n_ranks, work)[0]


@pytest.mark.parametrize("n_ranks", [1, 2, 3, 4])
def test_round_trip_with_dtypes_and_any_rank_count(tmp_path, n_ranks):
    path = write_ckpt(tmp_path / "ck", n_ranks)
    assert latest(tmp_path / "ck") == path
    ck = Checkpoint(tmp_path / "ck").expect("kmeans", 1)
    assert ck.iteration == 4 and ck.n_ranks == n_ranks and ck.config == {"k": 3}
    labels = ck.read_rows("labels")
    assert labels.dtype == np.int64 and np.array_equal(labels, np.arange(N) * 2)
    emb = ck.read_rows("emb", 5, 9)
    assert emb.dtype == np.float32 and np.array_equal(emb[:, 0], np.arange(5, 9))
    assert np.array_equal(ck.replicated("centers"), np.arange(6.0).reshape(3, 2) * 4)
    assert ck.rank_state(n_ranks - 1)["rng"]["state"] == 2**100 + n_ranks - 1
    assert ck.meta == {"history": [1.5, 2.5]}


def test_checkpoint_survives_being_moved(tmp_path, monkeypatch):
    write_ckpt(tmp_path / "ck", 3)
    shutil.move(tmp_path / "ck", tmp_path / "moved")
    monkeypatch.chdir("/")
    assert np.array_equal(Checkpoint(tmp_path / "moved").read_rows("labels"), np.arange(N) * 2)


def test_latest_moves_forward_and_old_ones_are_pruned(tmp_path):
    for it in (1, 2, 3):
        write_ckpt(tmp_path / "ck", 2, iteration=it)
    assert latest(tmp_path / "ck").name == "ckpt-000003"
    assert sorted(p.name for p in (tmp_path / "ck").glob("ckpt-*")) == ["ckpt-000002", "ckpt-000003"]


def test_crash_during_write_keeps_previous_checkpoint(tmp_path):
    write_ckpt(tmp_path / "ck", 2, iteration=1)

    def crash():
        raise RuntimeError("killed while writing")
    with pytest.raises(Exception, match="killed while writing"):
        write_ckpt(tmp_path / "ck", 2, iteration=2, fault=crash)
    assert latest(tmp_path / "ck").name == "ckpt-000001"
    ck = Checkpoint(tmp_path / "ck")
    assert ck.iteration == 1
    # the half-written one is only a hidden temporary directory
    assert [p.name for p in (tmp_path / "ck").glob("ckpt-*")] == ["ckpt-000001"]


def test_missing_shard_is_an_error(tmp_path):
    path = write_ckpt(tmp_path / "ck", 3)
    os.remove(path / "shard-00001.h5")
    with pytest.raises(CheckpointError, match="shard-00001.h5: shard missing"):
        Checkpoint(tmp_path / "ck")


def test_truncated_shard_is_an_error(tmp_path):
    path = write_ckpt(tmp_path / "ck", 3)
    p = path / "shard-00002.h5"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        Checkpoint(tmp_path / "ck")


def test_corrupt_shard_is_an_error(tmp_path):
    path = write_ckpt(tmp_path / "ck", 2)
    p = path / "shard-00000.h5"
    data = bytearray(p.read_bytes())
    data[-20] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="CRC32"):
        Checkpoint(tmp_path / "ck")


def test_truncated_master_is_an_error(tmp_path):
    path = write_ckpt(tmp_path / "ck", 2)
    m = path / "master.h5"
    m.write_bytes(m.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"master.h5: master file is 300 bytes, the manifest says \d+ \(truncated"):
        Checkpoint(tmp_path / "ck")


def test_other_algorithm_or_schema_is_an_error(tmp_path):
    write_ckpt(tmp_path / "ck", 2, algorithm="mf")
    with pytest.raises(CheckpointError, match="checkpoint of 'mf', not 'kmeans'"):
        Checkpoint(tmp_path / "ck").expect("kmeans", 1)
    with pytest.raises(CheckpointError, match="schema 1, this mpiml reads schema 2"):
        Checkpoint(tmp_path / "ck").expect("mf", 2)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        Checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Checkpoint(tmp_path / "nope")
    with h5py.File(tmp_path / "master.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(CheckpointError, match="no MANIFEST.json: written by mpiml before checkpoint format 2"):
        Checkpoint(tmp_path)


def test_fresh_run_refuses_to_overwrite_existing_checkpoints(tmp_path):
    write_ckpt(tmp_path / "ck", 1)
    with pytest.raises(ConfigError, match="already holds a checkpoint"):
        check_writable_root(tmp_path / "ck", resume=False)
    check_writable_root(tmp_path / "ck", resume=True)
    check_writable_root(tmp_path / "new", resume=False)


def test_master_attributes_are_plain_data(tmp_path):
    path = write_ckpt(tmp_path / "ck", 2)
    with h5py.File(path / "master.h5", "r") as f:
        assert json.loads(f.attrs["config"]) == {"k": 3}
        assert f.attrs["algorithm"] == "kmeans"
        assert f["distributed/labels"].is_virtual
        shards = json.loads(f.attrs["shards"])
    assert [s["file"] for s in shards] == ["shard-00000.h5", "shard-00001.h5"]


def test_disk_full_while_writing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    """A write error on one rank (ENOSPC when its shard is flushed) is the same
    error on every rank, and LATEST still names the previous, valid checkpoint."""
    import errno

    import mpiml.io.checkpoint as ckmod
    from mpiml.errors import CollectiveError
    write_ckpt(tmp_path / "ck", 3, iteration=1)
    real = ckmod._fsync_path

    def full_disk(path):
        if str(path).endswith("shard-00002.h5"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path)
    monkeypatch.setattr(ckmod, "_fsync_path", full_disk)
    with pytest.raises(CollectiveError, match=r"\[rank 2\] .*No space left on device.*writing checkpoint shards"):
        write_ckpt(tmp_path / "ck", 3, iteration=2)
    monkeypatch.setattr(ckmod, "_fsync_path", real)
    assert latest(tmp_path / "ck").name == "ckpt-000001"
    assert Checkpoint(tmp_path / "ck").iteration == 1        # verifies sizes and CRC32
    assert not (tmp_path / "ck" / "ckpt-000002").exists()
