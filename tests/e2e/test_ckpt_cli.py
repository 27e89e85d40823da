"""Issue 10 end to end (real mpiexec): checkpoints that can be trusted, and
outputs that never destroy inputs or existing checkpoints."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tests.e2e.util import REPO, blobs_file, final_model, mpiexec, run_cli

pytestmark = pytest.mark.timeout(300)

KM = ["train", "kmeans", "--k", "3", "--tol", "0", "--seed", "1"]


@pytest.fixture
def data(tmp_path):
    return blobs_file(tmp_path / "X.npy", n=120)


def listing(root):
    return sorted(p.name for p in root.iterdir())


# ----------------------------------------------------- class 2 through the CLI
def test_predict_refuses_a_virtual_source_outside_the_checkpoint(data, tmp_path):
    ck = tmp_path / "ck"
    assert run_cli(2, KM + ["--data", data, "--max-iter", "2", "--checkpoint-dir", ck, "--quiet"]).returncode == 0
    path = ck / "ckpt-000002"
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f["labels"] = np.zeros(120, np.int64)
    with h5py.File(path / "master.h5", "r+") as f:
        del f["distributed/labels"]
        vl = h5py.VirtualLayout(shape=(120,), dtype=np.int64)
        vl[:] = h5py.VirtualSource(str(outside), "labels", shape=(120,))
        f["distributed"].create_virtual_dataset("labels", vl, fillvalue=0)
    from tests.unit.io.craft import reseal
    reseal(path)
    res = run_cli(1, ["inspect", ck], mpi=False)
    assert res.returncode == 3, res.stderr
    assert f"virtual dataset 'distributed/labels' maps file '{outside}'" in res.stderr
    assert "Traceback" not in res.stderr


def test_flipped_bit_in_master_fails_predict_with_exit_3(data, tmp_path):
    ck = tmp_path / "ck"
    assert run_cli(2, KM + ["--data", data, "--max-iter", "2", "--checkpoint-dir", ck, "--quiet"]).returncode == 0
    m = ck / "ckpt-000002" / "master.h5"
    with h5py.File(m, "r") as f:
        off = f["replicated/cluster_centers"].id.get_offset()
    b = bytearray(m.read_bytes())
    b[off + 5] ^= 0x10
    m.write_bytes(bytes(b))
    res = run_cli(1, ["predict", "--model", ck, "--data", data], mpi=False)
    assert res.returncode == 3 and "master.h5: CRC32 of bytes" in res.stderr and res.stdout == "", res.stderr


# -------------------------------------------------------------- class 3
def test_two_jobs_into_one_directory_second_fails_at_setup_naming_the_holder(data, tmp_path):
    ck = tmp_path / "ck"
    # Job A: rank 1 hangs in iteration 2, so A holds the lock while B starts.
    env = dict(os.environ, MPIML_FAULT="hang:1:2", MPIEXEC_TIMEOUT="120")
    a = subprocess.Popen([mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", "-m", "mpiml", *map(str, KM),
                          "--data", str(data), "--max-iter", "50", "--checkpoint-dir", str(ck), "--quiet",
                          "--watchdog-timeout", "100"], cwd=REPO, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        holder = None
        while time.monotonic() < deadline and holder is None:
            try:
                holder = json.loads((ck / ".lock").read_text())
            except (OSError, ValueError):
                time.sleep(0.2)
        assert holder is not None, "job A never took the lock"
        res = run_cli(2, KM + ["--data", data, "--max-iter", "2", "--checkpoint-dir", ck, "--resume", "auto",
                               "--quiet"], timeout=90)
        assert res.returncode == 3, res.stderr
        assert (f"is in use by another run: host {holder['host']}, PID {holder['pid']}" in res.stderr), res.stderr
        assert res.stderr.count("error:") == 1
        assert a.poll() is None          # A was not disturbed
        assert not list(ck.glob("ckpt-*"))
    finally:
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()


def test_fresh_run_and_auto_resume_without_latest_never_overwrite(data, tmp_path):
    from mpiml.io.ckpt_read import Checkpoint, newest_verified
    ck = tmp_path / "ck"
    assert run_cli(2, KM + ["--data", data, "--max-iter", "2", "--checkpoint-every", "1",
                            "--checkpoint-dir", ck, "--quiet"]).returncode == 0
    os.remove(ck / "LATEST")       # as after a crash between publishing and the pointer
    before = {p.name: (p / "MANIFEST.json").read_bytes() for p in ck.glob("ckpt-*")}
    assert sorted(before) == ["ckpt-000001", "ckpt-000002"]
    res = run_cli(2, KM + ["--data", data, "--max-iter", "4", "--checkpoint-dir", ck, "--quiet"])
    assert res.returncode == 2 and "already holds a checkpoint (ckpt-000002)" in res.stderr
    res = run_cli(2, KM + ["--data", data, "--max-iter", "3", "--checkpoint-dir", ck, "--resume", "auto",
                           "--quiet", "--keep", "0"])
    assert res.returncode == 0, res.stderr
    assert "LATEST is missing; resuming from ckpt-000002, the newest checkpoint that verifies" in res.stderr
    # every checkpoint that existed is still there, unchanged, and verifies
    assert {p.name: (p / "MANIFEST.json").read_bytes() for p in ck.glob("ckpt-*") if p.name in before} == before
    for name in before:
        Checkpoint(ck / name)
    last = Checkpoint(newest_verified(ck)[0])
    assert last.iteration == 3 or last.meta["converged"]


def test_resume_into_another_runs_directory_prunes_nothing_of_it(data, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert run_cli(2, KM + ["--data", data, "--max-iter", "2", "--checkpoint-every", "1",
                                "--checkpoint-dir", d, "--quiet"]).returncode == 0
    theirs = listing(b)
    res = run_cli(2, KM + ["--data", data, "--max-iter", "6", "--checkpoint-every", "1", "--resume", a,
                           "--checkpoint-dir", b, "--quiet"])
    assert res.returncode == 0, res.stderr
    assert set(theirs) - {"LATEST"} <= set(listing(b))
    from mpiml.io.ckpt_read import Checkpoint
    for name in ("ckpt-000001", "ckpt-000002"):
        Checkpoint(b / name)


# -------------------------------------------------------------- class 4
def test_unwritable_checkpoint_dir_fails_before_any_work(data, tmp_path):
    res = run_cli(2, KM + ["--data", data, "--max-iter", "3", "--checkpoint-dir", data / "ck"])
    assert res.returncode == 2, res.stderr
    assert f"--checkpoint-dir {data}/ck: not writable" in res.stderr and "nothing was computed" in res.stderr
    assert "iter" not in res.stdout and "setup" not in res.stdout


def test_unwritable_output_dir_fails_before_any_work(data, tmp_path):
    res = run_cli(2, KM + ["--data", data, "--max-iter", "3", "--log", data / "log.jsonl"])
    assert res.returncode == 2, res.stderr
    assert "--log: directory" in res.stderr and "not writable" in res.stderr


# -------------------------------------------------------------- class 5
def test_resume_compares_content_not_path_strings(data, tmp_path):
    ck = tmp_path / "ck"
    assert run_cli(2, KM + ["--data", data, "--max-iter", "2", "--checkpoint-dir", ck, "--quiet"]).returncode == 0
    (tmp_path / "sub").mkdir()
    other_spelling = f"{tmp_path}/sub/../X.npy"
    res = run_cli(2, KM + ["--data", other_spelling, "--max-iter", "3", "--checkpoint-dir", ck,
                           "--resume", "auto", "--quiet"])
    assert res.returncode == 0, res.stderr
    blobs_file(data, n=120, seed=99)          # same path, same shape, other content
    res = run_cli(2, KM + ["--data", data, "--max-iter", "4", "--checkpoint-dir", ck, "--resume", "auto",
                           "--quiet"])
    assert res.returncode == 2, res.stderr
    assert f"--data {data}: content changed" in res.stderr and "--allow-changed-data" in res.stderr
    assert final_model(ck)[0].iteration == 3
    res = run_cli(2, KM + ["--data", data, "--max-iter", "4", "--checkpoint-dir", ck, "--resume", "auto",
                           "--quiet", "--allow-changed-data"])
    assert res.returncode == 0 and "warning: --allow-changed-data: resuming although" in res.stderr
    assert final_model(ck)[0].iteration == 4


# -------------------------------------------------------------- class 6
def test_align_out_may_not_overwrite_the_corpus(tmp_path):
    src, tgt = tmp_path / "c.e", tmp_path / "c.f"
    src.write_text("a b\nb c\n" * 10)
    tgt.write_text("x y\ny z\n" * 10)
    before = src.read_bytes()
    res = run_cli(2, ["train", "ibm1", "--source", src, "--target", tgt, "--align-out", f"{tmp_path}/./c.e",
                      "--quiet"])
    assert res.returncode == 2, res.stderr
    assert f"--align-out {tmp_path}/./c.e is the input file given as --source {src}" in res.stderr
    assert src.read_bytes() == before


def test_predict_out_may_not_overwrite_its_data(data, tmp_path):
    ck = tmp_path / "ck"
    assert run_cli(2, KM + ["--data", data, "--max-iter", "2", "--checkpoint-dir", ck, "--quiet"]).returncode == 0
    before = data.read_bytes()
    res = run_cli(1, ["predict", "--model", ck, "--data", data, "--out", data], mpi=False)
    assert res.returncode == 2 and f"--out {data} is the input file given as --data" in res.stderr
    assert data.read_bytes() == before


# -------------------------------------------------- also seen, smaller
def test_sigint_checkpoints_and_exits_75(data, tmp_path):
    ck = tmp_path / "ck"
    res = run_cli(2, KM + ["--data", data, "--max-iter", "8", "--checkpoint-dir", ck, "--quiet"],
                  env={"MPIML_FAULT": "sigint:1:3"})
    assert res.returncode == 75, res.stderr
    assert "stopped by SIGINT (received by rank 1) after iteration 3" in res.stderr
    assert "Traceback" not in res.stderr and "KeyboardInterrupt" not in res.stderr
    assert final_model(ck)[0].iteration == 3


@pytest.mark.parametrize("args,message", [
    (["--watchdog-timeout", "-1"], "--watchdog-timeout: expected a value >= 0.0, got -1"),
    (["--watchdog-timeout", "nan"], "--watchdog-timeout: expected a finite number, got nan"),
    (["--tol", "-0.5"], "--tol: expected a value >= 0.0, got -0.5"),
    (["--tol", "nan"], "--tol: expected a finite number, got nan"),
])
def test_bad_numbers_are_refused(data, args, message):
    res = run_cli(1, KM + ["--data", data, *args], mpi=False, timeout=60)
    assert res.returncode == 2 and message in res.stderr, res.stderr


def test_warnings_for_ignored_options_and_resume_without_checkpoint_dir(data, tmp_path):
    ck = tmp_path / "ck"
    assert run_cli(1, KM + ["--data", data, "--max-iter", "1", "--checkpoint-dir", ck, "--quiet"],
                   mpi=False).returncode == 0
    res = run_cli(1, KM + ["--data", data, "--max-iter", "2", "--resume", ck, "--quiet"], mpi=False)
    assert res.returncode == 0, res.stderr
    assert "warning: --resume without --checkpoint-dir: the continued run will save no checkpoints" in res.stderr
    lin = tmp_path / "l.libsvm"
    lin.write_text("".join(f"{i % 2} 1:{i % 7 / 7:.3f} 2:{i % 5 / 5:.3f}\n" for i in range(60)))
    # (settings warnings are shown unless --quiet)
    res = run_cli(1, ["train", "linear", "--data", lin, "--max-iter", "1", "--staleness", "5"], mpi=False)
    assert res.returncode == 0, res.stderr
    assert "warning: --staleness is ignored with --consistency bsp" in res.stderr
    rt = tmp_path / "r.tsv"
    rt.write_text("".join(f"{u}\t{i}\t{(u * i) % 5 + 1}\n" for u in range(8) for i in range(6)))
    res = run_cli(1, ["train", "mf", "--data", rt, "--solver", "als", "--rank", "2", "--max-iter", "1",
                      "--fugue-cap", "2"], mpi=False)
    assert res.returncode == 0, res.stderr
    assert "warning: --fugue-cap is ignored with --solver als" in res.stderr


def test_a_rank_ending_with_os_exit_is_named(data, tmp_path):
    res = run_cli(2, KM + ["--data", data, "--max-iter", "5", "--quiet"], env={"MPIML_FAULT": "exit:1:2"},
                  timeout=120)
    assert res.returncode != 0
    assert "mpiml: error: rank 1 (PID " in res.stderr, res.stderr
    assert "ended abruptly with os._exit(13) in iteration 2 of kmeans" in res.stderr
