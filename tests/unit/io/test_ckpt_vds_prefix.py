"""HDF5_VDS_PREFIX in the user's environment must not redirect checkpoint reads.

HDF5 looks up a virtual dataset's relative source files first in the
directories of HDF5_VDS_PREFIX (read when the library starts, so the reader
runs in a subprocess started with it set).  A directory holding decoy shards
of the same names must change neither ``read_rows`` nor ``inspect``'s figures;
the same process reading the master's virtual dataset directly does see the
decoy, which shows the test can fail."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from mpiml.io.ckpt_read import Checkpoint
from tests.unit.io.test_checkpoint import N, write_ckpt

REPO = Path(__file__).resolve().parents[3]

READER = """
import json, sys
import h5py
from mpiml.io.ckpt_read import Checkpoint
ck = Checkpoint(sys.argv[1])
s = ck.summary()
with h5py.File(ck.master, "r") as f:
    raw = f["distributed/labels"][()].tolist()
print(json.dumps({"labels": ck.read_rows("labels").tolist(), "emb": ck.read_rows("emb", 3, 12).tolist(),
                  "stats": {a["name"]: [a["min"], a["max"], a["mean"]] for a in s["arrays"]},
                  "raw_vds": raw}))
"""


def read_in_subprocess(path, prefix):
    env = dict(os.environ, HDF5_VDS_PREFIX=str(prefix))
    res = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True, text=True,
                         timeout=120, env=env, cwd=REPO)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_decoy_shards_under_hdf5_vds_prefix_are_never_read(tmp_path):
    path = write_ckpt(tmp_path / "ck", 3)
    ck = Checkpoint(path)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    for name in ck.shard_files:          # same names, same structure, other values
        shutil.copy(path / name, decoy / name)
        with h5py.File(decoy / name, "r+") as f:
            f["labels"][...] = -7
            f["emb"][...] = 99.0
    want_labels = (np.arange(N) * 2).tolist()
    got = read_in_subprocess(path, decoy)
    assert got["raw_vds"] == [-7] * N, "HDF5 did not follow HDF5_VDS_PREFIX: the test proves nothing"
    assert got["labels"] == want_labels
    assert np.array_equal(np.array(got["emb"])[:, 0], np.arange(3, 12))
    assert got["stats"]["distributed/labels"] == [0, 2 * (N - 1), float(np.mean(want_labels))]
    assert got["stats"]["distributed/emb"][:2] == [-(N - 1), N - 1]
    # and the same figures as a reader without the variable
    clean = read_in_subprocess(path, "")
    assert {k: clean[k] for k in ("labels", "emb", "stats")} == {k: got[k] for k in ("labels", "emb", "stats")}


def test_read_rows_clips_like_a_slice_and_crosses_shards(tmp_path):
    path = write_ckpt(tmp_path / "ck", 4)
    ck = Checkpoint(path)
    full = np.arange(N) * 2
    for lo, hi in ((0, None), (3, 11), (5, 5), (9, 4), (-3, None), (0, N + 10), (N, N + 2), (4, 13)):
        assert np.array_equal(ck.read_rows("labels", lo, hi), full[lo:hi]), (lo, hi)
    assert ck.read_rows("emb", 2, 9).shape == (7, 2) and ck.read_rows("emb").dtype == np.float32
