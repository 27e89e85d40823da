"""Reading progress logs for plots: resumed runs continue, fresh runs in the
same file are separate, labels are unique, bad lines name file:line."""

import json

import pytest

from mpiml.errors import ConfigError, InputError
from mpiml.plot import load, read_runs


def rec(it, obj, **kw):
    return {"iter": it, "objective": obj, "compute_s": 0.1, "comm_s": 0.01, "wait_s": 0.0,
            "bytes": 100, "bytes_max_rank": 60, "wall_s": 0.2, **kw}


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_resumed_run_continues_and_fresh_run_is_separate(tmp_path):
    log = write(tmp_path / "a.jsonl", [
        {"event": "start", "algorithm": "kmeans", "consistency": "bsp", "size": 2},
        rec(1, 9.0), rec(2, 8.0), rec(3, 7.5),                    # interrupted after 3
        {"event": "start", "algorithm": "kmeans", "size": 2, "start_iteration": 2},
        rec(3, 7.0), rec(4, 6.0), {"event": "finish", "iterations": 4},
        {"event": "start", "algorithm": "kmeans", "consistency": "bsp", "size": 4},
        rec(1, 5.0)])
    runs = read_runs(log)
    assert [r.series("objective")[1] for r in runs] == [[9.0, 8.0, 7.0, 6.0], [5.0]]
    assert runs[0].finish == {"event": "finish", "iterations": 4}
    assert runs[0].wall_time() == pytest.approx([0.2, 0.4, 0.6, 0.8])
    labelled = load([log])
    assert [r.label for r in labelled] == ["kmeans bsp 2 ranks (run 1)", "kmeans bsp 4 ranks (run 2)"]


def test_staleness_validation_and_labels(tmp_path):
    a = write(tmp_path / "a.jsonl", [rec(1, 1.0, stale_hist="0:6 1:4", va_acc=0.8),
                                      rec(2, 0.9, stale_hist="1:3 15+:1", va_acc=None)])
    b = write(tmp_path / "b.jsonl", [rec(1, 1.0)])
    ra, rb = load([a, b])
    assert ra.staleness_histogram() == {0: 6, 1: 7, 15: 1} and rb.staleness_histogram() is None
    assert ra.validation_key == "va_acc" and ra.series("va_acc") == ([1], [0.8])
    assert rb.validation_key is None
    # no start event: the file name; equal labels get the file name appended
    assert (ra.label, rb.label) == ("a", "b")
    same = load([a, b], labels=["x", "x"])
    assert [r.label for r in same] == ["x [a.jsonl]", "x [b.jsonl]"]
    with pytest.raises(ConfigError, match="--label given 1 times for 2 logs"):
        load([a, b], labels=["x"])


def test_bad_logs(tmp_path):
    with pytest.raises(InputError, match="no such log file"):
        read_runs(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rec(1, 1.0)) + "\n[1, 2]\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: expected a JSON object"):
        read_runs(bad)
    empty = write(tmp_path / "e.jsonl", [{"event": "start"}])
    with pytest.raises(InputError, match="no iteration records"):
        read_runs(empty)
