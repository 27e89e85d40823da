"""No hang, one error: failure scenarios under real mpiexec (each launch has a
hard timeout).  Every surviving rank must print the same CollectiveError,
naming the origin rank, and the job must exit with its code."""

import re
import subprocess
import sys

import pytest

from tests.e2e.util import REPO, blobs_file, mpiexec, run_cli

SCRIPT = REPO / "tests" / "e2e" / "failure_scenarios.py"


def launch(n, scenario, timeout=90):
    import os
    env = dict(os.environ, MPIEXEC_TIMEOUT=str(timeout))
    return subprocess.run([mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", str(SCRIPT), scenario],
                          capture_output=True, text=True, timeout=timeout + 30, env=env, cwd=REPO)


@pytest.mark.parametrize("n,scenario,origin,code,text", [
    (3, "two_at_once", 0, 2, "x.csv:3: bad value on rank 0 (while two at once) [also failed on ranks 2]"),
    (4, "two_at_once", 0, 2, "x.csv:3: bad value on rank 0 (while two at once) [also failed on ranks 3]"),
    (3, "inside_iallreduce", 1, 1, "ValueError: broken while the others reduce (while reducing)"),
    (2, "inside_iallreduce", 1, 1, "ValueError: broken while the others reduce (while reducing)"),
    (3, "exchange_partner", 1, 1, "RuntimeError: no message for you (while exchanging)"),
    (3, "before_finalize", 2, 1, "RuntimeError: failed after the last iteration (while finishing)"),
    (3, "nested", 0, 1, "KeyError: 'outer' (while outer)"),
    (3, "inside_async_tree", 1, 1, "RuntimeError: failed inside the async tree schedule (while iteration 2)"),
    (4, "inside_async_tree", 1, 1, "RuntimeError: failed inside the async tree schedule (while iteration 2)"),
])
def test_every_rank_ends_with_the_same_error(n, scenario, origin, code, text):
    res = launch(n, scenario)
    # ranks' lines may arrive interleaved without their newlines
    lines = {r: t.strip() for r, t in re.findall(r"RANK (\d+): (.*?)(?=RANK \d+: |\n|$)", res.stdout)}
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr[-2000:])
    assert sorted(map(int, lines)) == list(range(n)), res.stdout
    assert set(lines.values()) == {f"[rank {origin}] {text}"}, lines
    assert "UCX  WARN" not in res.stderr and "leaked" not in res.stderr, res.stderr[-2000:]


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    return blobs_file(tmp_path_factory.mktemp("fc") / "blobs.npy")


@pytest.mark.parametrize("fault,origin,text", [
    ("raise:0:3,raise:2:3", 0, "injected fault at iteration 3 (while iteration 3) [also failed on ranks 2]"),
    ("finish:1:0", 1, "injected fault after the last iteration (while finishing kmeans)"),
])
def test_cli_faults_end_the_job_with_one_message(blobs, tmp_path, fault, origin, text):
    res = run_cli(3, ["train", "kmeans", "--k", "4", "--max-iter", "6", "--tol", "0", "--data", blobs,
                      "--checkpoint-dir", tmp_path / "ck", "--watchdog-timeout", "20", "--quiet"],
                  env={"MPIML_FAULT": fault}, timeout=120)
    assert res.returncode == 1, res.stderr[-2000:]
    assert res.stderr.count("mpiml: error:") == 1, res.stderr[-2000:]
    assert f"mpiml: error: [rank {origin}] {text}" in res.stderr, res.stderr[-2000:]
    assert res.seconds < 60, f"{fault}: took {res.seconds:.1f}s"
