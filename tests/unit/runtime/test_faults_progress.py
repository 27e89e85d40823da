import io
import json
import time

import numpy as np
import pytest

from mpiml.errors import ConfigError
from mpiml.runtime.faults import Fault, FaultPlan, InjectedFault, Straggler, parse_faults
from mpiml.runtime.progress import Progress, banner, human_bytes


def test_parse_faults():
    assert parse_faults("raise:1:3, nan:0:2") == [Fault("raise", 1, 3), Fault("nan", 0, 2)]
    assert parse_faults("") == []
    for bad in ("boom:1:2", "raise:1", "raise:x:2"):
        with pytest.raises(ConfigError, match="MPIML_FAULT"):
            parse_faults(bad)


def test_fault_plan_fires_only_on_its_rank_and_iteration():
    plan = FaultPlan(parse_faults("raise:1:3,nan:1:4,ckpt-kill:1:5"), rank=1)
    plan.in_iteration(2)
    with pytest.raises(InjectedFault, match="iteration 3"):
        plan.in_iteration(3)
    assert plan.poison(4) and not plan.poison(3)
    assert plan.during_checkpoint(5) is not None and plan.during_checkpoint(4) is None
    other = FaultPlan(parse_faults("raise:1:3"), rank=0)
    other.in_iteration(3)


def test_persistent_straggler_slows_only_its_rank():
    s = Straggler("1:3", rank=1)
    assert s.begin_iteration() == 3.0
    s.delay(10.0)                      # first iteration (kernel loading) is not slowed
    assert s.total_delay == 0.0
    assert s.begin_iteration() == 3.0
    t0 = time.perf_counter()
    s.delay(0.01)
    assert time.perf_counter() - t0 >= 0.019 and s.total_delay == pytest.approx(0.02)
    assert Straggler("1:3", rank=0).begin_iteration() == 1.0


def test_transient_straggler_is_seeded_and_has_the_right_rate():
    draws = [Straggler("random:0.25:2", rank=2, seed=5) for _ in range(2)]
    seqs = [[s.begin_iteration() for _ in range(2000)] for s in draws]
    assert seqs[0] == seqs[1]
    rate = np.mean(np.array(seqs[0]) > 1)
    assert 0.2 < rate < 0.3
    other = [Straggler("random:0.25:2", rank=3, seed=5).begin_iteration() for _ in range(50)]
    assert other != seqs[0][:50]


@pytest.mark.parametrize("spec", ["x", "1:0.5", "random:2:3", "random:0.1"])
def test_bad_straggler_spec(spec):
    with pytest.raises(ConfigError, match="--straggler"):
        Straggler(spec, rank=0)


def test_progress_only_rank0_prints_and_logs(tmp_path):
    out = io.StringIO()
    log = tmp_path / "sub" / "p.jsonl"
    p = Progress(0, [("shift", "shift", "{:.2e}")], log, stream=out)
    rec = {"iter": 1, "objective": 12.5, "compute_s": 0.5, "comm_s": 0.1, "wait_s": 0.0, "bytes": 2048,
           "shift": 1e-3}
    p.row(rec)
    p.close()
    lines = out.getvalue().splitlines()
    assert "objective" in lines[0] and "shift" in lines[0]
    assert "1.250000e+01" in lines[1] and "2.0 KB" in lines[1] and "1.00e-03" in lines[1]
    assert json.loads(log.read_text()) == rec
    quiet = io.StringIO()
    Progress(1, [], tmp_path / "x.jsonl", stream=quiet).row(rec)
    assert quiet.getvalue() == "" and not (tmp_path / "x.jsonl").exists()


def test_banner_and_bytes():
    text = banner({"version": "0", "algorithm": "kmeans", "consistency": "bsp", "hosts": ["a", "a", "b"],
                   "size": 3, "mpi_library": "MPICH", "mpi_standard": "4.1", "mpi4py": "4", "numpy": "2",
                   "partition": [3, 3, 2], "partition_what": "rows",
                   "config": {"k": 4, "seed": 0, "dataset": None}})
    assert "world size 3 on 2 host(s): a x2, b x1" in text and "min 2, max 3, total 8" in text
    assert "\nconfig k=4 seed=0\n" in text + "\n"
    assert human_bytes(512) == "512 B" and human_bytes(3 * 1024**2) == "3.0 MB"
