"""``mpiml train mf`` --dtype / --blocks-per-rank auto through mpiexec, and the
``mpiml bench mf`` table beside LIBMF (small size: the figures are not checked,
only that they come from the runs)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.e2e.util import REPO, run_cli

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    from mpiml.datasets.ratings import synthetic_ratings
    d = synthetic_ratings(300, 200, rank=3, density=0.2, noise=0.2, offset=3.0, seed=4)
    p = tmp_path_factory.mktemp("mfspeed") / "r.npy"
    np.save(p, np.column_stack([d.users, d.items, d.values]))
    return p


def test_banner_shows_the_blocking_and_dtype_and_checkpoints_use_the_dtype(ratings, tmp_path):
    from mpiml.io.ckpt_read import Checkpoint
    for dtype in ("float32", "float64"):
        ck = tmp_path / dtype
        res = run_cli(2, ["train", "mf", "--data", ratings, "--rank", "8", "--max-iter", "2", "--dtype", dtype,
                          "--checkpoint-dir", ck])
        assert res.returncode == 0, res.stderr[-2000:]
        line = next(x for x in res.stdout.splitlines() if x.startswith("partition ratings per rank"))
        # 300 + 200 rows of 8 x itemsize bytes fit any L2 in one block per rank.
        assert f"factors {dtype}, 1 block(s) per rank, 4 in all (auto: " in line, line
        assert re.search(r"budget \d+ KiB = half the \d+ KiB L2", line), line
        assert "peak RSS per rank" in res.stdout and "setup: reading" in res.stdout
        c = Checkpoint(ck)
        assert c.read_rows("W").dtype == c.read_rows("H").dtype == np.dtype(dtype)
        assert c.meta["solver_state"]["blocks_per_rank"] == 1 and c.config["blocks_per_rank"] == "auto"
    # An explicit B is shown as given; a bad one is one clear error.
    res = run_cli(1, ["train", "mf", "--data", ratings, "--rank", "8", "--max-iter", "1", "--blocks-per-rank", "3"])
    assert res.returncode == 0 and "3 block(s) per rank, 9 in all (--blocks-per-rank)" in res.stdout
    res = run_cli(1, ["train", "mf", "--data", ratings, "--blocks-per-rank", "0"], mpi=False)
    assert res.returncode == 2 and "expected 'auto' or an integer >= 1, got 0" in res.stderr


def test_bench_mf_prints_mpiml_and_libmf_per_epoch_seconds(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mpiml", "bench", "mf", "--skip-kernel", "--skip-solvers",
                          "--size", "20000", "--libmf-epochs", "2"], capture_output=True, text=True,
                         timeout=540, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert "load average" in out
    num = r"([\d.]+|-)"
    rows = {tuple(m.group(1, 2)): m for m in
            re.finditer(rf"^\s*(mpiml dsgd|LIBMF)\s+(\d)\s+{num}\s+(\S+)\s+{num}\s+(\S+)\s+(\S+)\s+([\d.-]+)"
                        rf"\s+(\d+)\s+(\S+)$", out, re.M)}
    assert ("mpiml dsgd", "1") in rows and ("mpiml dsgd", "2") in rows, out
    for r in (1, 2):
        m = rows[("mpiml dsgd", str(r))]
        assert m.group(3) != "-" and float(m.group(3)) > 0 and float(m.group(5)) >= 0, out
        assert float(m.group(7)) >= 0 and int(m.group(9)) > 0 and m.group(10).isdigit(), out
    try:
        import libmf  # noqa: F401
        have = True
    except Exception:
        have = False
    if have:
        assert ("LIBMF", "1") in rows and ("LIBMF", "2") in rows, out
        # the ratios are LIBMF's s/epoch over mpiml's (wall, then CPU), up to the printed
        # rounding (4 decimals); on a loaded machine LIBMF's difference of two fits may be
        # noise ('-', no ratio)
        for w in ("1", "2"):
            for col in (3, 5):
                lib, own, ratio = rows[("LIBMF", w)].group(col), rows[("mpiml dsgd", w)].group(col), \
                    rows[("mpiml dsgd", w)].group(col + 1)
                if lib == "-" or ratio == "-":
                    assert ratio == "-" and (lib == "-" and "noise" in out or float(own) == 0), out
                    continue
                lib, own, ratio = float(lib), float(own), float(ratio.rstrip("x"))
                assert (lib - 5e-5) / (own + 5e-5) - 0.005 <= ratio <= (lib + 5e-5) / (own - 5e-5) + 0.005, out
    else:
        assert "LIBMF skipped:" in out
