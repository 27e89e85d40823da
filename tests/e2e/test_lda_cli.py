"""``mpiml train lda`` and ``mpiml topics`` through mpiexec: progress table
and log (log p(w,z), perplexity, staleness histogram/mean/variance), resume
through the CLI, top words and exports, and bad input as one clear error on
every rank."""

import json

import numpy as np
import pytest

from mpiml.datasets.topics import synthetic_topics, write_ldac, write_text, write_uci
from tests.e2e.util import run_cli

pytestmark = pytest.mark.timeout(600)

S = synthetic_topics(n_docs=80, n_words=40, n_topics=4, doc_len=30, alpha=0.1, seed=5)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lda")
    write_text(d / "train.txt", S.docs[:60], S.vocab)
    write_text(d / "valid.txt", S.docs[60:], S.vocab)
    write_uci(d / "docword.s.txt", d / "vocab.s.txt", S.docs, S.vocab)
    write_ldac(d / "s.ldac", S.docs)
    return d


def records(log):
    return [json.loads(x) for x in log.read_text().splitlines()]


def test_essp_table_log_perplexity_and_topics(files, tmp_path):
    log, ck = tmp_path / "l.jsonl", tmp_path / "ck"
    res = run_cli(3, ["train", "lda", "--data", files / "train.txt", "--valid", files / "valid.txt",
                      "--topics", "4", "--max-iter", "4", "--consistency", "essp", "--staleness", "2",
                      "--clock-tokens", "100", "--debug-staleness", "--debug-counts", "--log", log,
                      "--checkpoint-dir", ck, "--phi-out", tmp_path / "phi.npy"])
    assert res.returncode == 0, res.stderr
    assert "logp/token" in res.stdout and "va_ppl" in res.stdout and "stale_var" in res.stdout
    assert "consistency essp (staleness 2)" in res.stdout
    its = [r for r in records(log) if "iter" in r and "event" not in r]
    assert len(its) == 4
    assert all(r["ll_token"] < 0 and 1 < r["va_perplexity"] < 40 for r in its)
    assert its[-1]["ll_token"] > its[0]["ll_token"]
    assert all(r["stale_reads"] > 0 and r["stale_max"] <= 2 and "stale_var" in r for r in its)
    phi = np.load(tmp_path / "phi.npy")
    assert phi.shape == (4, 40) and np.allclose(phi.sum(axis=1), 1.0)
    top = run_cli(1, ["topics", "--model", ck, "--top", "5", "--json", "--theta-out", tmp_path / "t.npy"],
                  mpi=False)
    assert top.returncode == 0, top.stderr
    rows = json.loads(top.stdout)
    assert len(rows) == 4 and all(len(r["words"]) == 5 and r["words"][0].startswith("w") for r in rows)
    theta = np.load(tmp_path / "t.npy")
    assert theta.shape == (60, 4) and np.allclose(theta.sum(axis=1), 1.0)


@pytest.mark.parametrize("extra", [["--schedule", "rotate"]])   # bsp: tests/mpi (resume test)
def test_cli_resume_continues_bit_for_bit(files, tmp_path, extra):
    base = ["train", "lda", "--data", files / "docword.s.txt", "--topics", "3", "--seed", "4", "--quiet", *extra]
    full = run_cli(2, base + ["--max-iter", "4", "--checkpoint-dir", tmp_path / "full"])
    part = run_cli(2, base + ["--max-iter", "2", "--checkpoint-dir", tmp_path / "part"])
    again = run_cli(2, base + ["--max-iter", "4", "--checkpoint-dir", tmp_path / "part", "--resume", "auto"])
    assert full.returncode == part.returncode == again.returncode == 0, again.stderr
    from mpiml.io.ckpt_read import Checkpoint
    a, b = Checkpoint(tmp_path / "full"), Checkpoint(tmp_path / "part")
    assert a.iteration == b.iteration == 4
    assert np.array_equal(a.read_rows("z"), b.read_rows("z"))
    assert np.array_equal(a.replicated("word_topic"), b.replicated("word_topic"))
    changed = run_cli(2, base + ["--max-iter", "5", "--checkpoint-dir", tmp_path / "part", "--resume", "auto",
                                 "--alpha", "0.5"])
    assert changed.returncode == 2 and "--alpha was 0.1, now 0.5" in changed.stderr


def test_bad_input_is_one_error_on_every_rank(files, tmp_path):
    bad = tmp_path / "bad.ldac"
    good = (files / "s.ldac").read_text().splitlines()
    good[50] = "3 1:2 5:1"
    bad.write_text("\n".join(good) + "\n")
    res = run_cli(3, ["train", "lda", "--data", bad, "--topics", "3", "--checkpoint-dir", tmp_path / "ck"])
    assert res.returncode == 2
    assert res.stderr.count("mpiml: error:") == 1
    assert f"{bad}:51: line says N = 3 pairs but has 2" in res.stderr
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").iterdir())


def test_failure_inside_essp_clocks_ends_the_job(files):
    res = run_cli(3, ["train", "lda", "--data", files / "train.txt", "--topics", "3", "--max-iter", "4",
                      "--consistency", "essp", "--staleness", "1", "--clock-tokens", "40", "--quiet"],
                  env={"MPIML_FAULT": "raise:1:2"}, timeout=120)
    assert res.returncode == 1, res.stderr
    assert res.stderr.count("mpiml: error:") == 1 and "[rank 1] injected fault at iteration 2" in res.stderr
