"""Removing the emulated hosts of killed mpiml processes: only set-ups whose
state file up.sh wrote, under a prefix mpiml makes, of a process that no
longer exists; down.sh then removes exactly what the state file lists.

Files stand in for namespaces here (down.sh removes recorded files the same
way, without root); tests/multihost kills a real set-up's process."""

import subprocess
import sys

from mpiml.bench.hosts import KINDS, remove_stale, session_prefix


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def fake_setup(state_dir, prefix, tmp_path):
    made = tmp_path / f"{prefix}.made"
    made.write_text("x")
    (state_dir / f"{prefix}.created").write_text(f"file {made}\n# rate=none delay=none\n")
    return made


def test_only_dead_mpiml_setups_are_removed(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    gone = dead_pid()
    dead = [f"mhb{gone}", f"mhs{gone}", f"mht{gone}x", f"mht{gone}"]
    live = [session_prefix("links"), session_prefix("tests") + "y"]     # this process: alive
    foreign = [f"mh{gone}", "mh", f"lab{gone}", f"mhq{gone}", f"mhb{gone}z", f"xmhb{gone}"]
    files = {p: fake_setup(state, p, tmp_path) for p in dead + live + foreign}
    removed = remove_stale(str(state))
    assert sorted(removed) == sorted(dead)
    for p in dead:
        assert not files[p].exists() and not (state / f"{p}.created").exists()
    for p in live + foreign:
        assert files[p].exists() and (state / f"{p}.created").exists(), p
    assert remove_stale(str(state)) == []          # nothing more to do, and no error


def test_prefixes_name_the_process_and_what_made_them():
    import os
    assert {session_prefix(k) for k in KINDS} == {f"mh{c}{os.getpid()}" for c in "tbs"}


def test_benchmarks_use_recognisable_prefixes():
    from pathlib import Path
    root = Path(__file__).resolve().parents[3] / "mpiml" / "bench"
    for mod, kind in (("links.py", "links"), ("scaling.py", "scaling")):
        src = (root / mod).read_text()
        assert f'Cluster(session_prefix("{kind}")' in src and "remove_stale()" in src, mod
