"""The LIBMF child of ``mpiml bench mf`` is retried once when it hangs."""

import subprocess
import types

import pytest

from mpiml.bench import mf_libmf


def test_a_hung_libmf_child_is_run_once_more_then_a_clear_error(monkeypatch, tmp_path, capsys):
    calls = []

    def fake_run(cmd, timeout, **kw):
        calls.append(timeout)
        if len(calls) == 1 or fail_always:
            raise subprocess.TimeoutExpired(cmd, timeout)
        return types.SimpleNamespace(returncode=0, stdout='noise\n{"threads": 2, "s_epoch": 0.1}\n', stderr="")

    monkeypatch.setattr(mf_libmf.subprocess, "run", fake_run)
    fail_always = False
    rec = mf_libmf.run_libmf(tmp_path / "r.npy", 32, 0.05, 2, 10, None, n_ratings=20_000)
    assert rec == {"threads": 2, "s_epoch": 0.1} and len(calls) == 2
    # the limit grows with the work: 120 s + 30 s per million ratings and epoch
    assert calls[0] == pytest.approx(120 + 30 * 0.02 * 12)
    assert "did not finish within 127 s (attempt 1 of 2" in capsys.readouterr().err
    calls.clear()
    fail_always = True
    with pytest.raises(SystemExit, match="hung twice"):
        mf_libmf.run_libmf(tmp_path / "r.npy", 32, 0.05, 2, 10, None, n_ratings=3_600_000)
    assert len(calls) == 2 and calls[0] == pytest.approx(120 + 30 * 3.6 * 12)
