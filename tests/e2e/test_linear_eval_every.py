"""``--eval-every K``: exact evaluations inside an iteration by non-blocking
reductions.  Under BSP they equal the evaluations of shorter iterations at
the same clocks; under SSP with a straggler, debug staleness checks and
checkpoints every iteration, the bound holds and the run resumes."""

import json

import numpy as np
import pytest

from mpiml.datasets.linear import make_classification
from tests.e2e.util import run_cli

pytestmark = pytest.mark.timeout(600)

BASE = ["train", "linear", "--batch", "8", "--lr", "0.5", "--seed", "2", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lin-eval")
    X, y, _ = make_classification(240, 6, seed=3)
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", (y > 0).astype(np.int64))
    return d


def its(log):
    return [r for r in map(json.loads, log.read_text().splitlines()) if "iter" in r]


def test_bsp_evaluations_equal_those_of_shorter_iterations(files, tmp_path):
    data = ["--data", files / "X.npy", "--labels", files / "y.npy"]
    short, long = tmp_path / "short.jsonl", tmp_path / "long.jsonl"
    r1 = run_cli(3, BASE + data + ["--clocks", "3", "--max-iter", "4", "--log", short])
    r2 = run_cli(3, BASE + data + ["--clocks", "12", "--eval-every", "3", "--max-iter", "1", "--log", long])
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    ref = {r["clock"]: r["objective"] for r in its(short)}
    got = {e["clock"]: e["objective"] for e in its(long)[0]["evals"]}
    assert sorted(got) == [3, 6, 9, 12] == sorted(ref)
    assert all(abs(got[c] - ref[c]) <= 1e-9 * abs(ref[c]) for c in ref), (got, ref)


def test_ssp_bound_holds_across_evaluations_and_checkpoints(files, tmp_path):
    log = tmp_path / "ssp.jsonl"
    args = BASE + ["--data", files / "X.npy", "--labels", files / "y.npy", "--clocks", "12",
                   "--eval-every", "2", "--max-iter", "3", "--consistency", "ssp", "--staleness", "2",
                   "--debug-staleness", "--straggler", "2:4", "--checkpoint-dir", tmp_path / "ck",
                   "--checkpoint-every", "1", "--log", log]
    res = run_cli(3, args)
    assert res.returncode == 0, res.stderr
    rows = its(log)
    assert [e["clock"] for r in rows for e in r["evals"]] == list(range(2, 37, 2))
    assert all(r["stale_max"] <= 2 for r in rows)
    objs = [e["objective"] for r in rows for e in r["evals"]]
    assert all(np.isfinite(objs)) and objs[-1] < objs[0]
    # resume from the checkpoint of iteration 3: staleness checks stay on
    res = run_cli(3, args[:args.index("--max-iter")] + ["--max-iter", "4"] +
                  args[args.index("--max-iter") + 2:] + ["--resume", "auto"])
    assert res.returncode == 0, res.stderr
    assert its(log)[-1]["iter"] == 4 and its(log)[-1]["stale_max"] <= 2
