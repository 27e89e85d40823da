"""What the benchmarks share: the steady-state median of a job's iteration
records and the one matplotlib check (``mpiml plot`` and ``bench scaling``)."""

import subprocess
import sys

import pytest

from mpiml.bench.launcher import median_steady
from mpiml.plot import MissingExtra
from mpiml.plot.figures import require_matplotlib

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


def test_median_steady_leaves_out_the_first_iteration():
    its = [{"wall_s": 100.0}, {"wall_s": 1.0}, {"wall_s": 3.0}, {"wall_s": 2.0}]
    assert median_steady(its, "wall_s") == 2.0
    assert median_steady(its[:2], "wall_s") == 1.0
    assert median_steady(its[:1], "wall_s") == 100.0   # a one-iteration job: its only figure
    with pytest.raises(ValueError, match="no iteration records"):
        median_steady([], "wall_s")


def test_links_and_scaling_use_the_shared_median():
    import mpiml.bench.links as links
    import mpiml.bench.scaling as scaling
    assert not hasattr(links, "_median_steady")
    src = (REPO / "mpiml/bench/scaling.py").read_text() + (REPO / "mpiml/bench/links.py").read_text()
    assert src.count("median_steady(") >= 7 and "its[1:]" not in src and "recs[1:]" not in src
    assert scaling.bench_scaling and links.bench_links


def test_missing_matplotlib_names_the_command_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(MissingExtra, match=r"mpiml bench scaling .*pip install 'mpiml\[plot\]'"):
        require_matplotlib("mpiml bench scaling")
    from mpiml.bench import scaling_plots
    with pytest.raises(MissingExtra, match="mpiml bench scaling"):
        scaling_plots.check_matplotlib()


def test_bench_scaling_without_matplotlib_is_a_clear_error_before_any_job(tmp_path):
    out = tmp_path / "rep"
    code = ("import sys; sys.modules['matplotlib'] = None; from mpiml.cli import main; "
            f"sys.exit(main(['bench', 'scaling', 'kmeans', '-o', {str(out)!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "mpiml: error: mpiml bench scaling (its PNG figures) needs matplotlib, which is an optional "
        "extra: pip install 'mpiml[plot]' (or pip install matplotlib)"]
    assert not out.exists()
