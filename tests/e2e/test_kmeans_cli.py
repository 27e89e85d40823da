"""End to end through mpiexec: train -> checkpoint -> interrupt -> resume ->
identical result; bad input on every rank; faults end the job, no hang."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from tests.e2e.util import blobs_file, final_model, run_cli

pytestmark = pytest.mark.timeout(600)

TRAIN = ["train", "kmeans", "--k", "4", "--tol", "0", "--max-iter", "12", "--seed", "3",
         "--checkpoint-every", "4", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return blobs_file(tmp_path_factory.mktemp("d") / "X.npy")


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    ck = tmp_path_factory.mktemp("ref") / "ck"
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", ck])
    assert res.returncode == 0, res.stderr
    return final_model(ck)


def test_progress_table_banner_and_log(data, tmp_path):
    log = tmp_path / "p.jsonl"
    res = run_cli(2, ["train", "kmeans", "--data", data, "--k", "4", "--max-iter", "5", "--tol", "0",
                      "--log", log])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "world size 2" in out and "MPICH" in out and "consistency bsp" in out
    assert "partition rows per rank: 300 300" in out
    header = [line for line in out.splitlines() if line.strip().startswith("iter")]
    assert len(header) == 1 and all(c in header[0] for c in ("objective", "compute_s", "comm_s", "wait_s", "bytes"))
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    iters = [r for r in recs if "iter" in r]
    assert [r["iter"] for r in iters] == [1, 2, 3, 4, 5]
    # one Allreduce of k*d sums + k counts + inertia per iteration and rank (+ 8-byte progress records)
    assert all(r["bytes"] >= 2 * (4 * 3 + 4 + 1) * 8 for r in iters)
    assert recs[-1]["event"] == "finish" and recs[-1]["iterations"] == 5


def test_interrupted_run_resumes_bit_identical(data, reference, tmp_path):
    ck = tmp_path / "ck"
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", ck], env={"MPIML_FAULT": "raise:1:7"})
    assert res.returncode == 1 and "[rank 1] injected fault at iteration 7" in res.stderr
    assert (ck / "LATEST").read_text().strip() == "ckpt-000004"
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", ck, "--resume", "auto"])
    assert res.returncode == 0, res.stderr
    ck_ref, C_ref, lab_ref = reference
    got, C, lab = final_model(ck)
    assert got.iteration == ck_ref.iteration
    assert np.array_equal(C, C_ref) and np.array_equal(lab, lab_ref)  # bit-identical


def test_resume_on_another_rank_count(data, reference, tmp_path):
    ck = tmp_path / "ck"
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", ck, "--max-iter", "8"])
    assert res.returncode == 0, res.stderr
    for n in (2, 4):
        ck_n = tmp_path / f"ck{n}"
        shutil.copytree(ck, ck_n)
        res = run_cli(n, TRAIN + ["--data", data, "--checkpoint-dir", ck_n, "--resume", ck_n])
        assert res.returncode == 0, res.stderr
        _, C, lab = final_model(ck_n)
        np.testing.assert_allclose(C, reference[1], rtol=1e-10)
        assert np.array_equal(lab, reference[2])


def test_signal_checkpoints_and_exits_75_then_resumes(data, reference, tmp_path):
    ck = tmp_path / "ck"
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", ck, "--checkpoint-every", "0"],
                  env={"MPIML_FAULT": "signal:2:6"})
    assert res.returncode == 75, res.stderr
    assert "stopped by SIGUSR1 (received by rank 2) after iteration 6" in res.stderr
    assert (ck / "LATEST").read_text().strip() == "ckpt-000006"
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", ck, "--resume", "auto"])
    assert res.returncode == 0, res.stderr
    assert np.array_equal(final_model(ck)[1], reference[1])


def test_kill_during_checkpoint_keeps_previous_one(data, tmp_path):
    ck = tmp_path / "ck"
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", ck], env={"MPIML_FAULT": "ckpt-kill:1:8"})
    assert res.returncode != 0 and res.seconds < 60
    assert (ck / "LATEST").read_text().strip() == "ckpt-000004"
    ckpt, _, _ = final_model(ck)          # verifies every shard's CRC
    assert ckpt.iteration == 4
    res = run_cli(2, TRAIN + ["--data", data, "--checkpoint-dir", ck, "--resume", "auto"])
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("fault,code", [("raise:2:3", 1), ("nan:1:2", 4), ("exit:1:2", None),
                                        ("kill:2:3", None), ("hang:1:2", 5)])
def test_faults_end_the_whole_job_quickly(data, tmp_path, fault, code):
    res = run_cli(3, TRAIN + ["--data", data, "--checkpoint-dir", tmp_path / "ck", "--watchdog-timeout", "4"],
                  env={"MPIML_FAULT": fault}, timeout=120)
    assert res.returncode != 0
    if code is not None:
        assert res.returncode == code, res.stderr
    assert res.seconds < 30, f"{fault}: took {res.seconds:.1f}s"
    rank = fault.split(":")[1]
    if fault.startswith(("raise", "nan")):
        assert f"[rank {rank}]" in res.stderr and res.stderr.count("mpiml: error:") == 1
    if fault.startswith("hang"):
        assert f"lagging: rank {rank}" in res.stderr


@pytest.mark.parametrize("args,message", [
    (["--data", "missing.npy", "--k", "3"], "missing.npy: no such file"),
    (["--data", "{ragged}", "--k", "2"], "ragged.csv:3: expected 2 columns (as on line 1), found 1"),
    (["--data", "{nan}", "--k", "2"], "nan.csv: line 2, column 2 (1-based): non-finite value nan"),
    (["--data", "{data}", "--k", "100000"], "--k 100000 is larger than the number of points (600)"),
    (["--data", "{data}", "--k", "3", "--bogus"], "unrecognized arguments: --bogus"),
    (["--data", "{data}", "--k", "3", "--straggler", "x"], "--straggler 'x'"),
])
def test_bad_input_is_one_clear_error_with_exit_2(data, tmp_path, args, message):
    (tmp_path / "ragged.csv").write_text("1,2\n3,4\n5\n6,7\n")
    (tmp_path / "nan.csv").write_text("1,2\n3,nan\n")
    subst = {"{ragged}": tmp_path / "ragged.csv", "{nan}": tmp_path / "nan.csv", "{data}": data}
    args = [subst.get(a, a) for a in args]
    res = run_cli(3, ["train", "kmeans", "--quiet", *args], timeout=60)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert res.stderr.count("error:") == 1          # printed once (rank 0), not once per rank


def test_fresh_run_will_not_overwrite_a_checkpoint(data, tmp_path):
    ck = tmp_path / "ck"
    assert run_cli(2, TRAIN + ["--data", data, "--checkpoint-dir", ck, "--max-iter", "2"]).returncode == 0
    before = (ck / "LATEST").read_text()
    res = run_cli(2, TRAIN + ["--data", data, "--checkpoint-dir", ck])
    assert res.returncode == 2 and "already holds a checkpoint" in res.stderr
    assert (ck / "LATEST").read_text() == before


def test_resume_with_changed_k_is_refused(data, tmp_path):
    ck = tmp_path / "ck"
    assert run_cli(2, TRAIN + ["--data", data, "--checkpoint-dir", ck, "--max-iter", "2"]).returncode == 0
    res = run_cli(2, ["train", "kmeans", "--data", data, "--k", "5", "--checkpoint-dir", ck, "--resume", "auto"])
    assert res.returncode == 2 and "k was 4, now 5" in res.stderr
    res = run_cli(2, ["train", "kmeans", "--data", data, "--k", "4", "--init-from", ck, "--max-iter", "3",
                      "--quiet"])
    assert res.returncode == 0, res.stderr


def test_inspect_and_predict(data, reference, tmp_path):
    ck = reference[0].dir
    res = run_cli(1, ["inspect", ck], mpi=False)
    assert res.returncode == 0, res.stderr
    for want in ("algorithm    kmeans", "replicated/cluster_centers", "distributed/labels",
                 "600", "4 files, "):
        assert want in res.stdout
    js = json.loads(run_cli(1, ["inspect", ck, "--json"], mpi=False).stdout)
    assert js["algorithm"] == "kmeans" and js["config"]["k"] == 4 and js["n_ranks"] == 3
    out = tmp_path / "labels.npy"
    res = run_cli(1, ["predict", "--model", ck, "--data", data, "--out", out], mpi=False)
    assert res.returncode == 0, res.stderr
    assert np.array_equal(np.load(out), reference[2])
    res = run_cli(1, ["inspect", tmp_path], mpi=False)
    assert res.returncode == 3 and "no checkpoint here" in res.stderr


def test_master_is_readable_by_h5dump(reference):
    h5dump = shutil.which("h5dump")
    if h5dump is None:
        pytest.skip("h5dump not installed (apt-get install hdf5-tools; `make deps` does it as root)")
    master = reference[0].dir / "master.h5"
    res = subprocess.run([h5dump, "-H", master], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "cluster_centers" in res.stdout and "labels" in res.stdout
    res = subprocess.run([h5dump, "-d", "/distributed/labels", master], capture_output=True, text=True,
                         timeout=60, cwd="/")
    assert res.returncode == 0, res.stderr


def test_config_file(data, tmp_path):
    cfg = tmp_path / "km.toml"
    cfg.write_text(f'k = 4\ndata = "{data}"\nmax-iter = 3\ntol = 0.0\n')
    res = run_cli(2, ["train", "kmeans", "--config", cfg, "--quiet", "--log", tmp_path / "l.jsonl"])
    assert res.returncode == 0, res.stderr
    recs = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert recs[-1]["iterations"] == 3
    (tmp_path / "bad.toml").write_text("k = 4\nbogus = 1\n")
    res = run_cli(2, ["train", "kmeans", "--config", tmp_path / "bad.toml", "--data", data, "--k", "4"])
    assert res.returncode == 2 and "unknown option(s) bogus" in res.stderr
