"""Emulated hosts on one machine, for the multi-host tests and benchmarks:
network namespaces made by ``scripts/multihost/up.sh`` (removed by
``down.sh``), MPI jobs started across them by ``scripts/multihost/mpiexec``,
and the byte counters of their links. Needs root; the scripts live in the
source tree (``MPIML_MULTIHOST_SCRIPTS`` points elsewhere)."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(os.environ.get("MPIML_MULTIHOST_SCRIPTS", REPO / "scripts" / "multihost"))

# up.sh gives host i the address SUBNET.i of one /24, and refuses N outside 1..250.
MAX_HOSTS = 250
# Rates as tc spells them (case-insensitive; a bare number is bit/s), limited to
# the units whose tbf burst up.sh computes; delays as tc's time values.
_RATE = re.compile(r"(?i)(\d+(\.\d*)?|\.\d+)(bit|kbit|mbit|gbit)?")
_DELAY = re.compile(r"(?i)(\d+(\.\d*)?|\.\d+)(s|sec|ms|msec|us|usec)")


def link_rate(text: str) -> str:
    """argparse type: a link rate for ``tc`` (``100mbit``, ``1gbit``, ``1.5gbit``)."""
    m = _RATE.fullmatch(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a link rate: expected a positive number with bit, kbit, mbit or gbit "
            "(per second), like 100mbit or 1gbit")
    return text.strip()


def link_rates(text: str) -> list[str | None]:
    """argparse type: comma-separated link rates, ``none`` for an unshaped link
    (returned as None)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        out.append(None if part.lower() == "none" else link_rate(part))
    if not out:
        raise argparse.ArgumentTypeError(f"{text!r} names no link rate (e.g. none,1gbit,100mbit)")
    return out


def link_delay(text: str) -> str:
    """argparse type: an added one-way delay for ``tc netem`` (``50us``, ``1ms``), or '' for none."""
    if not text.strip():
        return ""
    m = _DELAY.fullmatch(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a delay: expected a number with us, ms or s, "
                                         "like 50us or 1ms ('' for none)")
    return text.strip()


def host_count(low: int = 1):
    """argparse type: a number of emulated hosts in ``low..MAX_HOSTS``."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = None
        if n is None or not low <= n <= MAX_HOSTS:
            raise argparse.ArgumentTypeError(f"{text!r} hosts: expected an integer from {low} to {MAX_HOSTS}")
        return n
    parse.__name__ = "host count"
    return parse


# Every prefix mpiml's own code uses is mh + who + the creating process's pid
# (+ x/y for a test's extra set-ups): t = the multi-host tests, b = bench links,
# s = bench scaling.  The pid makes a set-up whose process was killed (no
# clean-up ran) recognisable: its process no longer exists.
KINDS = {"tests": "t", "links": "b", "scaling": "s"}
_OURS = re.compile(r"mh[tbs](\d+)[xy]*")
_PROBE = re.compile(r"mpimlprobe(\d+)")
DEFAULT_STATE = "/run/mpiml-multihost"     # scripts/multihost/common.sh's default


def session_prefix(kind: str) -> str:
    """The namespace prefix of this process's set-up for ``kind`` (a key of KINDS)."""
    return f"mh{KINDS[kind]}{os.getpid()}"


def _dead(pid: str) -> bool:
    return not Path(f"/proc/{int(pid)}").exists()


def remove_stale(state_dir: str | None = None) -> list[str]:
    """Remove the set-ups of mpiml processes that were killed before cleaning up.

    Only set-ups with a state file that up.sh wrote (in ``state_dir``, default
    ``$MPIML_MH_STATE`` or /run/mpiml-multihost), a prefix of the form
    :func:`session_prefix` makes, and a creating process that no longer exists
    are removed, by down.sh, which deletes exactly what that state file
    records.  Also the probe namespace of :func:`namespaces_permitted` of a
    dead process.  Anyone else's namespaces, and live processes' set-ups (other
    test sessions, benchmarks running now), are never touched.  Returns the
    prefixes (and probe names) removed.
    """
    state_dir = state_dir or os.environ.get("MPIML_MH_STATE", DEFAULT_STATE)
    removed = []
    for state in sorted(Path(state_dir).glob("*.created")):
        prefix = state.name[:-len(".created")]
        m = _OURS.fullmatch(prefix)
        if m and _dead(m.group(1)):
            Cluster(prefix, 0, state_dir=state_dir).down()
            removed.append(prefix)
    try:
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    except OSError:      # no iproute2: nothing can have been made
        ns = ""
    for name in (line.split()[0] for line in ns.splitlines() if line.strip()):
        m = _PROBE.fullmatch(name)
        if m and _dead(m.group(1)):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
            removed.append(name)
    return removed


def exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a CI step's timeout) raise SystemExit in the main
    thread, so that the benchmark's ``with Cluster``/``finally`` removes its
    namespaces; only SIGKILL then leaves any, for :func:`remove_stale`."""
    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)


def namespaces_permitted() -> str | None:
    """None if this process may create network namespaces, else the reason."""
    if not (SCRIPTS / "up.sh").exists():
        return f"{SCRIPTS}/up.sh not found (run from a source checkout or set MPIML_MULTIHOST_SCRIPTS)"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    for tool in ("ip", "unshare"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, timeout=30).returncode:
            return f"no '{tool}' command (apt-get install iproute2 util-linux)"
    probe = f"mpimlprobe{os.getpid()}"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=30)
    if p.returncode:
        return f"'ip netns add' is not permitted here: {p.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=30)
    return None


class Cluster:
    """``n_hosts`` emulated hosts named ``PREFIX-h1..`` (up/down by the scripts).

    Parameters
    ----------
    prefix : str
        Names of the namespaces (and host names); unique per test session.
    n_hosts : int
    rate, delay : str, optional
        Link shaping passed to up.sh (``--rate 1gbit``, ``--delay 50us``).
    """

    def __init__(self, prefix: str, n_hosts: int, rate: str | None = None, delay: str | None = None,
                 state_dir: str | None = None):
        self.prefix, self.n_hosts = prefix, n_hosts
        self.rate, self.delay = rate, delay
        self.env = dict(os.environ, MPIML_MH_PREFIX=prefix, MPIML_MH_PYTHON=sys.executable)
        if state_dir:
            self.env["MPIML_MH_STATE"] = state_dir
        self.hosts = [f"{prefix}-h{i}" for i in range(1, n_hosts + 1)]
        self.up_message = ""

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self) -> None:
        cmd = ["bash", str(SCRIPTS / "up.sh"), str(self.n_hosts)]
        if self.rate:
            cmd += ["--rate", self.rate]
        if self.delay:
            cmd += ["--delay", self.delay]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=self.env)
        self.up_message = p.stderr.strip()
        if p.returncode or p.stdout.strip() != ",".join(self.hosts):
            raise RuntimeError(f"up.sh failed ({p.returncode}): {p.stderr.strip()} {p.stdout.strip()}")

    def down(self) -> None:
        subprocess.run(["bash", str(SCRIPTS / "down.sh")], capture_output=True, text=True,
                       timeout=120, env=self.env)

    def leftovers(self) -> list[str]:
        """Namespaces and hosts files of this prefix that still exist."""
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout.split()
        left = [n for n in ns if n.startswith(self.prefix + "-")]
        left += [str(p) for p in Path("/etc/netns").glob(self.prefix + "-*")]
        return left

    def counters(self) -> dict:
        """{host: (rx_bytes, tx_bytes)} of each host's link to the switch."""
        out = {}
        for h in self.hosts:
            p = subprocess.run(["ip", "netns", "exec", h, "cat",
                                "/sys/class/net/mh0/statistics/rx_bytes",
                                "/sys/class/net/mh0/statistics/tx_bytes"],
                               capture_output=True, text=True, check=True, timeout=30)
            rx, tx = map(int, p.stdout.split())
            out[h] = (rx, tx)
        return out

    def mpiexec(self, args, ppn: int = 2, env=None, timeout: float = 240,
                hosts=None) -> subprocess.CompletedProcess:
        """Run ``args`` (argv after the program) with ``ppn`` ranks per host.

        The result has ``.seconds`` and ``.traffic`` ({host: (rx, tx)} byte
        deltas of the host links during the job)."""
        full = dict(self.env, MPIEXEC_TIMEOUT=str(int(timeout)), **(env or {}))
        cmd = ["bash", str(SCRIPTS / "mpiexec"), "-ppn", str(ppn)]
        if hosts:
            cmd += ["-hosts", ",".join(hosts)]
        before = self.counters()
        t0 = time.monotonic()
        res = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                             timeout=timeout + 30, env=full, cwd=REPO)
        res.seconds = time.monotonic() - t0
        after = self.counters()
        res.traffic = {h: (after[h][0] - before[h][0], after[h][1] - before[h][1]) for h in after}
        return res

    def address(self, i: int) -> str:
        """Address of host ``i`` (0-based) on the links (as up.sh assigns them)."""
        return f"{self.env.get('MPIML_MH_SUBNET', '10.213.77')}.{i + 1}"

    def throughput(self, mib: int = 64) -> float:
        """Measured TCP throughput (bit/s) from the first host to the second."""
        port = 5000 + os.getpid() % 1000
        srv = subprocess.Popen(["ip", "netns", "exec", self.hosts[1], sys.executable, "-c",
                                _SINK, self.address(1), str(port), str(mib)],
                               stdout=subprocess.PIPE, text=True)
        try:
            p = subprocess.run(["ip", "netns", "exec", self.hosts[0], sys.executable, "-c", _SOURCE,
                                self.address(1), str(port), str(mib)],
                               capture_output=True, text=True, timeout=120, check=True)
            return float(p.stdout)
        finally:
            try:
                srv.wait(timeout=60)
            except subprocess.TimeoutExpired:   # the sender failed: the sink still waits in accept()
                srv.kill()
                srv.wait()


# a receiver and a sender of MIB MiB over TCP; the sender prints bit/s
_SINK = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
c, _ = s.accept(); need = int(sys.argv[3]) << 20
while need > 0:
    b = c.recv(1 << 20)
    if not b:
        break
    need -= len(b)
c.sendall(b"k"); c.close()
"""
_SOURCE = """
import socket, sys, time
for _ in range(100):
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2]))); break
    except ConnectionRefusedError:
        time.sleep(0.05)
buf = b"x" * (1 << 20); n = int(sys.argv[3]); t = time.perf_counter()
for _ in range(n):
    s.sendall(buf)
s.recv(1); print(n * 8 * 2 ** 20 / (time.perf_counter() - t))
"""
