"""Fixtures of the multi-host suite (``make test-multihost``).

The suite emulates hosts with network namespaces joined by veth links to a
bridge. It is skipped, with the reason, where namespaces may not be created
(not root, no iproute2, a container that forbids it). Where they may, the
suite's set-up failing is a failure under ``CI=true`` (a skip elsewhere), and
every namespace, link and hosts file it made is removed at the end, also when
a test failed or the session was interrupted.
"""

from __future__ import annotations

import atexit
import os
import signal

import pytest

from mpiml.bench.hosts import remove_stale, session_prefix

from .cluster import Cluster, namespaces_permitted

N_HOSTS = 2


def _broken(message: str):
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def cluster():
    reason = namespaces_permitted()
    if reason:
        pytest.skip(f"multi-host tests need network namespaces: {reason}")
    # set-ups of killed test sessions and benchmarks (SIGKILL: no clean-up ran)
    remove_stale()
    c = Cluster(session_prefix("tests"), N_HOSTS)
    atexit.register(c.down)
    old = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):  # a killed CI step still removes the namespaces
        c.down()
        signal.signal(signal.SIGTERM, old if callable(old) else signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        c.up()
    except Exception as exc:  # noqa: BLE001 - reported as the reason
        c.down()
        _broken(f"namespaces are permitted but the emulated hosts could not be set up: {exc}")
    yield c
    c.down()
    signal.signal(signal.SIGTERM, old)
