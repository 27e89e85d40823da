"""``mpiml bench scaling``: a small run writes report.md, results.json and
PNGs that decode, with figures taken from the jobs' logs."""

import json
import subprocess
import sys

import pytest

from tests.e2e.test_plot_cli import assert_png
from tests.e2e.util import REPO

pytestmark = pytest.mark.timeout(600)


def test_scaling_report_for_ibm1(tmp_path):
    out = tmp_path / "rep"
    res = subprocess.run([sys.executable, "-m", "mpiml", "bench", "scaling", "ibm1", "--ranks", "1,2",
                          "--size", "200", "--iters", "3", "--plan-ranks", "2,4,8", "--plan-pairs", "10",
                          "-o", out], capture_output=True, text=True, timeout=540, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert [r["ranks"] for r in results["strong"]] == [1, 2] == [r["ranks"] for r in results["weak"]]
    s1, s2 = results["strong"]
    assert s1["speedup"] == pytest.approx(1.0) and s2["speedup"] == pytest.approx(s1["wall_s"] / s2["wall_s"])
    assert s2["efficiency"] == pytest.approx(s2["speedup"] / 2)
    assert s1["bytes"] < s2["bytes"]          # one rank only sends its progress records
    pl = results["planner"]
    assert pl["ranks"] == [2, 4, 8] and set(pl["mean"]) == {"mapreduce", "allreduce", "allpairs",
                                                            "junction-tree"}
    report = (out / "report.md").read_text()
    assert "## Strong scaling" in report and "## Weak scaling" in report and "bytes per rank" in report
    for png in ("speedup.png", "efficiency.png", "breakdown.png", "bytes_per_rank.png"):
        assert f"]({png})" in report
        assert_png(out / png, min_bytes=5000)
