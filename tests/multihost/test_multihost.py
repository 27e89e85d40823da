"""mpiml across emulated hosts: 2 network namespaces x 2 ranks, MPICH started
through hydra's ssh launcher replaced by ``scripts/multihost/netns-exec``, UCX
over TCP so that traffic between hosts crosses the veth links.

The algorithm checks are the existing ``tests/mpi`` suites (each compares with
its serial reference in ``tests/naive``), run here with ranks 0-1 on the first
host and 2-3 on the second. Every job's traffic is read from the links' byte
counters and compared with what MPI start-up alone sends.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.util import blobs_file

pytestmark = pytest.mark.timeout(300)
PPN = 2
JOBS = "tests/multihost/jobs"


@pytest.fixture(scope="module")
def baseline(cluster):
    """Per-host (rx, tx) bytes of a job that only starts MPI and synchronises
    once: the most of three such jobs, since start-up's traffic varies from run
    to run by 1-2 kB (a K-means suite sends about 17 kB more than start-up)."""
    most = {}
    for _ in range(3):
        res = cluster.mpiexec([sys.executable, "-c", "from mpi4py import MPI; MPI.COMM_WORLD.Barrier()"],
                              ppn=PPN)
        assert res.returncode == 0, res.stderr
        for host, (rx, tx) in res.traffic.items():
            b_rx, b_tx = most.get(host, (0, 0))
            most[host] = (max(rx, b_rx), max(tx, b_tx))
    return most


def assert_crossed(res, baseline, what):
    """Every host link carried more, in both directions, than MPI start-up does."""
    for host, (rx, tx) in res.traffic.items():
        b_rx, b_tx = baseline[host]
        assert rx > b_rx and tx > b_tx, (
            f"{what}: host {host} link carried rx {rx} / tx {tx} bytes, no more than MPI "
            f"start-up alone (rx {b_rx} / tx {b_tx}): the ranks did not talk across hosts")


def read_ranks(out, n):
    files = sorted(out.glob("rank-*.json"))
    assert len(files) == n, f"expected {n} rank reports, found {[f.name for f in files]}"
    return [json.loads(f.read_text()) for f in sorted(files, key=lambda f: int(f.stem[5:]))]


def test_ranks_are_spread_over_hosts_and_payload_crosses_the_links(cluster, tmp_path):
    mib = 4
    res = cluster.mpiexec([sys.executable, "-m", "mpi4py", f"{JOBS}/placement.py", tmp_path, mib],
                          ppn=PPN)
    assert res.returncode == 0, res.stderr
    reps = read_ranks(tmp_path, PPN * cluster.n_hosts)
    expect = [h for h in cluster.hosts for _ in range(PPN)]
    assert all(r["hosts"] == expect for r in reps), reps[0]["hosts"]
    assert all(r["ok"] for r in reps)
    # An Allreduce across two hosts: each host must send the other its
    # partial sum of the whole vector (mib MiB of float64), whatever algorithm
    # MPI picks; the link counters include headers, so they can only be larger.
    for host, (rx, tx) in res.traffic.items():
        assert tx >= mib * 2 ** 20 and rx >= mib * 2 ** 20, (host, rx, tx)


SUITES = {
    "kmeans": "tests/mpi/test_kmeans_mpi.py -k equals_serial_reference",
    "ibm1-every-topology": "tests/mpi/test_ibm1_mpi.py -k 'theta_after_every_iteration or host_aware'",
    "dsgd": "tests/mpi/test_mf_mpi.py -k dsgd_equals_serial",
    "ssp-bound": "tests/mpi/test_tables_mpi.py -k bound_never_violated",
}


def collected(args: str) -> int:
    """How many tests ``pytest <args>`` selects, counted by pytest itself, so
    a suite that gains parametrisations is not mistaken for one that lost ranks."""
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only",
                          "-q", *shlex.split(args)], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    m = re.search(r"(\d+)(?:/\d+)? tests? collected", out.stdout)
    assert m, out.stdout[-2000:] + out.stderr[-2000:]
    return int(m.group(1))


@pytest.mark.parametrize("suite", list(SUITES))
def test_mpi_suite_across_hosts(cluster, baseline, suite):
    expected = collected(SUITES[suite])
    assert expected > 0, SUITES[suite]
    res = cluster.pytest_mpi(SUITES[suite], ppn=PPN)
    tail = (res.stdout + res.stderr)[-3000:]
    assert res.returncode == 0, tail
    # pytest-mpi's output is each rank's; every rank must report all passed
    assert res.stdout.count(f"{expected} passed") == PPN * cluster.n_hosts, tail
    assert "failed" not in res.stdout and "skipped" not in res.stdout, tail
    assert_crossed(res, baseline, suite)


def test_ibm1_host_aware_cross_host_bytes_are_on_the_wire(cluster, baseline, tmp_path):
    """The cross-host C-step bytes mpiml accounts crossed the links: the link
    counters (which also carry headers, set-up and progress traffic) hold at
    least that much beyond MPI start-up; the host-aware tree has 1 cross-host edge."""
    from mpiml.datasets.corpus import synthetic_parallel
    sp = synthetic_parallel(1500, n_words=1500, seed=3)
    sp.write_two_files(tmp_path / "c.e", tmp_path / "c.f")
    log = tmp_path / "run.jsonl"
    iters = 3
    res = cluster.mpiexec([sys.executable, "-m", "mpi4py", "-m", "mpiml", "train", "ibm1",
                           "--source", tmp_path / "c.e", "--target", tmp_path / "c.f",
                           "--host-aware", "--max-iter", iters, "--log", log], ppn=PPN)
    assert res.returncode == 0, res.stderr
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    plan = next(r for r in recs if r.get("event") == "finish")["plan"]
    its = [r for r in recs if "iter" in r]
    assert plan["n_hosts"] == cluster.n_hosts and plan["cross_host_tree_edges"] == cluster.n_hosts - 1
    assert plan["rank_hosts"] == [h for h in cluster.hosts for _ in range(PPN)]
    assert all(r["cstep_cross_host"] == plan["cross_host_bytes"] > 0 for r in its)
    assert f"across {cluster.n_hosts} hosts:" in res.stdout
    wire = sum(tx - baseline[h][1] for h, (_, tx) in res.traffic.items())
    accounted = sum(r["cstep_cross_host"] for r in its)
    assert wire >= accounted, (wire, accounted)


def test_error_on_the_second_host_reaches_every_rank(cluster, baseline, tmp_path):
    n = PPN * cluster.n_hosts
    origin = n - 1
    rounds = 2
    res = cluster.mpiexec([sys.executable, "-m", "mpi4py", f"{JOBS}/fault.py", tmp_path, origin,
                           rounds], ppn=PPN, timeout=120)
    assert res.returncode == 0, res.stderr
    reps = read_ranks(tmp_path, n)
    assert reps[origin]["host"] == cluster.hosts[-1]
    errors = [r["error"] for r in reps]
    assert all(e is not None for e in errors), errors
    assert len({json.dumps(e, sort_keys=True) for e in errors}) == 1, errors
    e = errors[0]
    assert e["origin"] == origin and e["code"] == 2
    assert e["message"].startswith(f"[rank {origin}] data.csv:3: injected on {cluster.hosts[-1]}")
    # The error text names the second host, so it travelled from there to the
    # first host's ranks. The links show that this job's ranks talked over
    # them: the all-reduces before the fault carry at least `rounds` MiB each
    # way (measured: 1% above that). Half of it is the bound, so start-up's
    # run-to-run variation (a few kB) cannot decide the check. Comparing the
    # fault alone with start-up could: its error message is a few hundred bytes.
    least = rounds * 2 ** 20 // 2
    for host, (rx, tx) in res.traffic.items():
        b_rx, b_tx = baseline[host]
        assert rx - b_rx >= least and tx - b_tx >= least, (host, rx, tx, b_rx, b_tx)


def test_cli_fault_on_the_second_host_ends_the_job_with_one_agreed_error(cluster, tmp_path):
    data = blobs_file(tmp_path / "x.npy", n=400)
    n = PPN * cluster.n_hosts
    res = cluster.mpiexec([sys.executable, "-m", "mpi4py", "-m", "mpiml", "train", "kmeans",
                           "--data", data, "--k", 3, "--max-iter", 6, "--tol", 0,
                           "--watchdog-timeout", 60],
                          ppn=PPN, env={"MPIML_FAULT": f"raise:{n - 1}:2"}, timeout=120)
    assert res.returncode == 1, res.stderr
    assert f"[rank {n - 1}] injected fault at iteration 2" in res.stderr, res.stderr
    assert res.stderr.count("mpiml: error:") == 1, res.stderr
    hosts = ", ".join(f"{h} x{PPN}" for h in cluster.hosts)
    assert f"world size {n} on {cluster.n_hosts} host(s): {hosts}" in res.stdout, res.stdout


def test_a_failed_set_up_leaves_nothing_behind(cluster):
    """up.sh fails half-way (tc rejects the rate after the first namespaces
    exist) and removes what it had made; down.sh of a good set-up likewise."""
    from .cluster import Cluster
    bad = Cluster(cluster.prefix + "x", 2, rate="not-a-rate")
    with pytest.raises(RuntimeError, match="up.sh failed"):
        bad.up()
    assert "undoing" in bad.up_message
    assert bad.leftovers() == []
    good = Cluster(cluster.prefix + "y", 3)
    try:
        good.up()
        assert len(good.leftovers()) == 4 + 3     # 3 hosts + the switch, 3 hosts files
        assert good.counters().keys() == set(good.hosts)
    finally:
        good.down()
    assert good.leftovers() == []


def test_a_killed_benchmark_s_hosts_are_removed_and_live_ones_kept(cluster):
    """A process that set up emulated hosts the way ``bench links`` does is
    killed with SIGKILL (no clean-up runs): the next clean-up removes its
    namespaces and hosts files, and leaves this session's live set-up alone."""
    import os
    import signal
    import subprocess

    from mpiml.bench.hosts import remove_stale
    from .cluster import REPO, Cluster
    code = ("from mpiml.bench.hosts import Cluster, session_prefix\n"
            "c = Cluster(session_prefix('links'), 2); c.up(); print(c.prefix, flush=True)\n"
            "import time; time.sleep(600)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        prefix = p.stdout.readline().strip()
        assert prefix == f"mhb{p.pid}", prefix
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    killed = Cluster(prefix, 2)
    assert len(killed.leftovers()) == 2 + 1 + 2          # 2 hosts + the switch, 2 hosts files
    live_before = cluster.leftovers()
    assert prefix in remove_stale()
    assert killed.leftovers() == []
    assert cluster.leftovers() == live_before and live_before
    assert cluster.prefix not in remove_stale()
