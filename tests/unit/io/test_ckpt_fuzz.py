"""Issue 10: flip random bytes of a real master and shard (fixed seed).

Every trial must either verify and give exactly the original data, or raise
CheckpointError: never another exception, never different data.  Two modes:
plain damage (the manifest's CRCs must catch every flip), and damage with the
manifest recomputed afterwards (as a hand-edit would), which exercises the
HDF5 structure, link, shape and attribute checks behind the checksums.
"""

import json
import shutil

import numpy as np
import pytest

from mpiml.errors import CheckpointError
from mpiml.io.ckpt_read import Checkpoint
from tests.unit.io.craft import reseal
from tests.unit.io.test_checkpoint import write_ckpt


def snapshot(path):
    ck = Checkpoint(path)
    return {"centers": ck.replicated("centers").tobytes(), "labels": ck.read_rows("labels").tobytes(),
            "emb": ck.read_rows("emb").tobytes(), "config": json.dumps(ck.config, sort_keys=True),
            "meta": json.dumps(ck.meta, sort_keys=True), "iteration": ck.iteration,
            "rank_state": [ck.rank_state(r) for r in range(ck.n_ranks)], "algorithm": ck.algorithm}


@pytest.mark.parametrize("mode,trials", [("damage", 300), ("damage+reseal", 150)])
def test_random_byte_flips_verify_identically_or_raise_checkpoint_error(tmp_path, mode, trials):
    path = write_ckpt(tmp_path / "ck", 2)
    ref = snapshot(path)
    files = [path / "master.h5", path / "shard-00001.h5"]
    originals = {f: f.read_bytes() for f in files}
    manifest = (path / "MANIFEST.json").read_bytes()
    rng = np.random.default_rng(20261201)
    caught = same = 0
    for t in range(trials):
        f = files[t % 2]
        data = bytearray(originals[f])
        # Half the flips land in the first 4 KiB, where HDF5's superblock and
        # object headers are; the rest anywhere in the file.
        pos = int(rng.integers(0, min(4096, len(data)) if t % 4 < 2 else len(data)))
        data[pos] ^= int(rng.integers(1, 256))
        f.write_bytes(bytes(data))
        if mode == "damage+reseal":
            reseal(path)
        try:
            got = snapshot(path)
        except CheckpointError:
            caught += 1
        except Exception as exc:   # noqa: BLE001 - the point of the test
            pytest.fail(f"trial {t}: flip at {f.name}:{pos} raised {type(exc).__name__}: {exc}")
        else:
            assert got == ref, f"trial {t}: flip at {f.name}:{pos} verified but changed the data"
            same += 1
        f.write_bytes(originals[f])
        (path / "MANIFEST.json").write_bytes(manifest)
    if mode == "damage":
        assert caught == trials          # CRC32 detects every single-byte error
    else:
        assert caught + same == trials and caught > trials // 4
    assert snapshot(path) == ref
    shutil.rmtree(tmp_path / "ck")
