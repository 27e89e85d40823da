"""``mpiml plot``: every plot kind rendered from real logs of real mpiexec
runs (decoded again with matplotlib's own PNG reader), several logs overlaid,
bad logs and the missing optional extra give clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mpiml.datasets.linear import make_classification, write_libsvm
from tests.e2e.util import REPO, blobs_file, run_cli

pytestmark = pytest.mark.timeout(600)
KINDS = ("objective", "walltime", "breakdown", "bytes", "staleness", "validation", "edges")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("plot")
    X, y, _ = make_classification(300, 40, seed=1, nnz_per_row=6)
    write_libsvm(d / "train.svm", X[:240], y[:240])
    write_libsvm(d / "valid.svm", X[240:], y[240:])
    jobs = {
        "kmeans": ["train", "kmeans", "--data", blobs_file(d / "x.npy"), "--k", "4", "--max-iter", "6"],
        "bsp": ["train", "linear", "--data", d / "train.svm", "--valid", d / "valid.svm", "--batch", "8",
                "--clocks", "5", "--max-iter", "4"],
        "ssp": ["train", "linear", "--data", d / "train.svm", "--valid", d / "valid.svm", "--batch", "8",
                "--clocks", "5", "--max-iter", "4", "--consistency", "ssp", "--staleness", "2"],
        "ibm1": ["train", "ibm1", "--source", REPO / "data/corpus.e", "--target", REPO / "data/corpus.f",
                 "--max-iter", "3"],
    }
    out = {}
    for name, args in jobs.items():
        out[name] = d / f"{name}.jsonl"
        res = run_cli(2, args + ["--quiet", "--log", out[name]])
        assert res.returncode == 0, res.stderr
    return out


def plot(args):
    return subprocess.run([sys.executable, "-m", "mpiml", "plot", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def assert_png(path, min_bytes=10_000):
    import matplotlib.image as mpimg
    assert path.stat().st_size >= min_bytes, path.stat().st_size
    img = mpimg.imread(str(path))           # decodes, or raises
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert float(np.std(img[..., :3])) > 0.01    # not a blank canvas
    return img


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_from_real_logs(logs, tmp_path, kind):
    src = {"staleness": ["bsp", "ssp"], "validation": ["bsp", "ssp"], "edges": ["ibm1"]}.get(
        kind, ["kmeans", "ssp", "ibm1"])
    out = tmp_path / f"{kind}.png"
    res = plot([*(logs[s] for s in src), "-o", out, "--kind", kind])
    assert res.returncode == 0, res.stderr
    assert f"{out}: {kind} of {len(src)} run(s)" in res.stdout
    assert_png(out)


def test_default_draws_every_kind_with_data_and_labels_overlay(logs, tmp_path):
    out = tmp_path / "all.png"
    res = plot([logs["bsp"], logs["ssp"], "-o", out, "--label", "BSP", "--label", "SSP s=2"])
    assert res.returncode == 0, res.stderr
    assert "objective, walltime, breakdown, bytes, staleness, validation of 2 run(s)" in res.stdout
    big = assert_png(out)
    one = tmp_path / "one.png"
    assert plot([logs["kmeans"], "-o", one]).returncode == 0
    small = assert_png(one)
    assert big.shape[0] > small.shape[0]      # more panels, taller figure


def test_log_reader_keeps_runs_labels_and_staleness(logs):
    from mpiml.plot import load
    runs = load([logs["ssp"], logs["ibm1"]])
    ssp, ibm1 = runs
    assert ssp.label == "linear ssp (staleness 2) 2 ranks" and ibm1.label == "ibm1 junction-tree 2 ranks"
    recs = [json.loads(x) for x in logs["ssp"].read_text().splitlines() if '"iter"' in x]
    hist = ssp.staleness_histogram()
    assert sum(hist.values()) == sum(int(t.split(":")[1]) for r in recs for t in r["stale_hist"].split())
    assert max(hist) <= 2 and ssp.validation_key == "va_acc"
    assert ibm1.edge_bytes() and ibm1.staleness_histogram() is None


def test_missing_kind_bad_log_and_missing_extra_are_clear_errors(logs, tmp_path):
    res = plot([logs["kmeans"], "-o", tmp_path / "x.png", "--kind", "staleness"])
    assert res.returncode == 2 and "no run in these logs has a staleness histogram" in res.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(logs["kmeans"].read_text().splitlines()[0] + "\n{not json\n")
    res = plot([bad, "-o", tmp_path / "x.png"])
    assert res.returncode == 2 and f"{bad}:2: not a JSON record" in res.stderr
    # matplotlib made unimportable: the message names the extra
    code = ("import sys; sys.modules['matplotlib'] = None; from mpiml.cli import main; "
            f"sys.exit(main(['plot', {str(logs['kmeans'])!r}, '-o', {str(tmp_path / 'y.png')!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert res.returncode == 2
    assert "pip install 'mpiml[plot]'" in res.stderr and "matplotlib" in res.stderr
    assert not (tmp_path / "y.png").exists()
