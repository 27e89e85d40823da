"""``mpiml train ibm1`` end to end through mpiexec, plus ``mpiml plan`` and ``mpiml eval-aer``."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.ibm1 import IBM1
from mpiml.em.plan import TOPOLOGIES
from mpiml.io.ckpt_read import Checkpoint
from mpiml.io.corpus import encode_pairs
from tests.e2e.util import REPO, run_cli

pytestmark = pytest.mark.timeout(300)

TRIAL = REPO / ".." / "shared" / "data" / "naacl2003_trial"
EMPTY_LINE = 57          # 0-based line of an empty pair in the two-file corpus
N_RANKS = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("ibm1")
    sp = synthetic_parallel(200, n_words=40, seed=7, p_spurious=0.1)
    src, tgt = [list(s) for s in sp.src_sents], [list(t) for t in sp.tgt_sents]
    src.insert(EMPTY_LINE, [])
    tgt.insert(EMPTY_LINE, ["t1"])
    (d / "c.e").write_text("".join(" ".join(s) + "\n" for s in src))
    (d / "c.f").write_text("".join(" ".join(t) + "\n" for t in tgt))
    (d / "c.txt").write_text("".join(" ".join(s) + " ||| " + " ".join(t) + "\n" for s, t in zip(src, tgt)))
    gold = sp.pharaoh_lines()
    gold.insert(EMPTY_LINE, "")
    (d / "gold.txt").write_text("\n".join(gold) + "\n")
    keep = [i for i, s in enumerate(src) if s]
    serial = IBM1(n_iter=5).fit(encode_pairs([src[i] for i in keep], [tgt[i] for i in keep]))
    expect = [""] * len(src)
    for i, line in zip(keep, serial.align(encode_pairs([src[i] for i in keep], [tgt[i] for i in keep]))):
        expect[i] = line
    return {"dir": d, "n_lines": len(src), "lexicon": sp.lexicon, "serial_align": expect}


def train_args(c, topology, tag, *extra):
    d = c["dir"]
    args = ["train", "ibm1", "--source", d / "c.e", "--target", d / "c.f", "--topology", topology,
            "--align-out", d / f"align-{tag}.txt", "--log", d / f"log-{tag}.jsonl",
            "--checkpoint-dir", d / f"ck-{tag}", "--checkpoint-every", "2"]
    if topology == "tree":
        args += ["--tree-edges", ",".join(f"{r}-{r + 1}" for r in range(N_RANKS - 1))]
    return args + list(extra)


@pytest.fixture(scope="module")
def runs(corpus):
    out = {}
    for topo in TOPOLOGIES:
        res = run_cli(N_RANKS, train_args(corpus, topo, topo))
        assert res.returncode == 0, res.stderr
        out[topo] = res
    return out


def iteration_records(path):
    return [r for r in map(json.loads, Path(path).read_text().splitlines()) if "iter" in r]


def theta_of(ckdir):
    ck = Checkpoint(ckdir)
    return ck, ck.read_rows("keys"), ck.read_rows("theta")


def test_every_topology_trains_and_aligns_in_corpus_order(corpus, runs):
    d = corpus["dir"]
    for topo, res in runs.items():
        out = res.stdout
        assert "ibm1 | consistency bsp" in out and "partition sentence pairs per rank: 66 67 67" in out
        head = next(x for x in out.splitlines() if x.strip().startswith("iter"))
        for col in ("objective", "loglik", "perplexity", "E_s", "C_s", "M_s", "C_bytes", "C_max/rank"):
            assert col in head
        assert f"plan ({topo}):" in out and "setup: reading" in out
        assert f"skipped 1 pair(s) with an empty side (lines {EMPTY_LINE + 1})" in out
        recs = iteration_records(d / f"log-{topo}.jsonl")
        assert [r["iter"] for r in recs] == [1, 2, 3, 4, 5]          # default --max-iter 5
        obj = [r["objective"] for r in recs]
        assert all(b < a for a, b in zip(obj, obj[1:]))
        lines = (d / f"align-{topo}.txt").read_text().split("\n")[:-1]
        assert lines == corpus["serial_align"], topo               # corpus order, serial answer
    # the same theta (to rounding) whatever the topology
    _, k0, t0 = theta_of(d / "ck-junction-tree")
    for topo in TOPOLOGIES:
        ck, k, t = theta_of(d / f"ck-{topo}")
        assert ck.iteration == 5 and np.array_equal(k, k0)
        np.testing.assert_allclose(t, t0, rtol=1e-12)


def test_one_file_layout_and_ttable_recovers_the_lexicon(corpus, runs):
    d = corpus["dir"]
    res = run_cli(2, ["train", "ibm1", "--corpus", d / "c.txt", "--topology", "allpairs", "--quiet",
                      "--align-out", d / "align-one.txt", "--export-ttable", "1",
                      "--ttable-out", d / "tt.tsv"])
    assert res.returncode == 0, res.stderr
    assert (d / "align-one.txt").read_text().split("\n")[:-1] == corpus["serial_align"]
    rows = [line.split("\t") for line in (d / "tt.tsv").read_text().splitlines()]
    best = {s: t for s, t, _ in rows}
    assert len(rows) == len(best)                                   # top-1: one row per word
    frequent = [f"s{i}" for i in range(10)]                         # Zipf: the 10 commonest
    assert all(best[s] == corpus["lexicon"][s] for s in frequent), best


def test_fault_then_resume_is_bit_identical_also_on_another_count(corpus, runs, tmp_path):
    d = corpus["dir"]
    args = train_args(corpus, "junction-tree", "fault", "--quiet")
    res = run_cli(N_RANKS, args, env={"MPIML_FAULT": "raise:1:3"})
    assert res.returncode == 1 and "[rank 1] injected fault at iteration 3" in res.stderr
    assert (d / "ck-fault" / "LATEST").read_text().strip() == "ckpt-000002"
    other = tmp_path / "ck-other"
    shutil.copytree(d / "ck-fault", other)
    res = run_cli(N_RANKS, args + ["--resume", "auto"])
    assert res.returncode == 0, res.stderr
    _, k_ref, t_ref = theta_of(d / "ck-junction-tree")
    ck, k, t = theta_of(d / "ck-fault")
    assert ck.iteration == 5 and np.array_equal(k, k_ref) and np.array_equal(t, t_ref)
    # resume on 4 ranks: a correct (not bit-identical) continuation
    res = run_cli(4, train_args(corpus, "junction-tree", "other", "--quiet", "--checkpoint-dir", other,
                                "--resume", "auto"))
    assert res.returncode == 0, res.stderr
    ck, k, t = theta_of(other)
    assert ck.iteration == 5 and ck.n_ranks == 4
    ref = dict(zip(k_ref.tolist(), t_ref.tolist()))
    got = dict(zip(k.tolist(), t.tolist()))
    assert set(got) == set(ref)
    np.testing.assert_allclose([got[x] for x in ref], list(ref.values()), rtol=1e-12)


def test_float32_trains_resumes_in_float32_and_refuses_float64(corpus, runs, tmp_path):
    """--dtype float32 through mpiexec: a float32 checkpoint; its C-step bytes
    are half the float64 run's; resuming it with the default float64 is one
    clear error (exit 2, printed once) and it continues in float32."""
    d = corpus["dir"]
    ck = tmp_path / "ck32"

    def args(dtype, iters, *extra):
        return train_args(corpus, "junction-tree", "f32", "--quiet", "--checkpoint-dir", ck,
                          "--max-iter", str(iters), *(["--dtype", dtype] if dtype else []), *extra)
    res = run_cli(N_RANKS, args("float32", 2))
    assert res.returncode == 0, res.stderr
    c = Checkpoint(ck)
    assert c.read_rows("theta").dtype == np.float32 and c.config["dtype"] == "float32"
    f32 = iteration_records(d / "log-f32.jsonl")
    f64 = iteration_records(d / "log-junction-tree.jsonl")
    assert [2 * r["cstep_bytes"] for r in f32] == [r["cstep_bytes"] for r in f64[:2]]
    res = run_cli(N_RANKS, args(None, 4, "--resume", "auto"))
    assert res.returncode == 2
    assert res.stderr.count("--dtype was 'float32', now 'float64'") == 1, res.stderr
    res = run_cli(N_RANKS, args("float32", 4, "--resume", "auto"))
    assert res.returncode == 0, res.stderr
    c = Checkpoint(ck)
    assert c.iteration == 4 and c.read_rows("theta").dtype == np.float32


@pytest.mark.parametrize("case,message", [
    ("mismatch", "b.f:3: line has no partner: {d}/b.f has 3 lines but {d}/b.e has 2"),
    ("utf8", "b.f:2: invalid UTF-8 byte 0xff"),
    ("separator", "b.txt:2: expected 'source ||| target', found 2 '|||' separators"),
    ("tree", "--topology tree needs --tree-edges"),
    ("low-memory", "--low-memory (deprecated) means --estep word-major; it cannot be combined with "
                   "--estep indexed"),
])
def test_bad_input_is_one_clear_error_with_exit_2(tmp_path, case, message):
    e, f, one = tmp_path / "b.e", tmp_path / "b.f", tmp_path / "b.txt"
    e.write_text("a b\nc d\n")
    f.write_bytes({"mismatch": b"x y\nz w\nv\n", "utf8": b"x y\nz \xff\n"}.get(case, b"x y\nz w\n"))
    one.write_text("a b ||| x y\nc ||| d ||| e\n")
    layout = ["--corpus", one] if case == "separator" else ["--source", e, "--target", f]
    extra = {"tree": ["--topology", "tree"], "low-memory": ["--low-memory", "--estep", "indexed"]}.get(case, [])
    res = run_cli(2, ["train", "ibm1", "--quiet", *layout, *extra], timeout=60)
    assert res.returncode == 2, res.stderr
    assert message.format(d=tmp_path) in res.stderr
    assert res.stderr.count("error:") == 1                     # printed once, by rank 0


def test_deprecated_low_memory_flag_still_runs_the_word_major_estep(corpus, runs):
    """Scripts written for the released --low-memory keep working: the same
    theta bit for bit as the default (word-major) run, and a warning."""
    res = run_cli(N_RANKS, train_args(corpus, "junction-tree", "lowmem", "--low-memory"))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("--low-memory is deprecated: it means --estep word-major") == 1
    d = corpus["dir"]
    ck, k, t = theta_of(d / "ck-lowmem")
    _, k_ref, t_ref = theta_of(d / "ck-junction-tree")
    assert ck.config["estep"] == "word-major" and "low_memory" not in ck.config
    assert np.array_equal(k, k_ref) and np.array_equal(t, t_ref)
    assert (d / "align-lowmem.txt").read_text() == (d / "align-junction-tree.txt").read_text()


def test_plan_predicts_the_measured_bytes(corpus, runs):
    d = corpus["dir"]
    res = run_cli(1, ["plan", "ibm1", "--ranks", str(N_RANKS), "--source", d / "c.e", "--target", d / "c.f",
                      "--json"], mpi=False)
    assert res.returncode == 0, res.stderr
    rows = {r["topology"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert set(rows) == set(TOPOLOGIES)
    assert rows["allpairs"]["rounds"] == 1 and rows["mapreduce"]["rounds"] == 2
    for topo in ("mapreduce", "allpairs", "junction-tree", "tree"):     # allreduce is a model
        recs = iteration_records(d / f"log-{topo}.jsonl")
        assert all(r["cstep_bytes"] == rows[topo]["bytes_total"] for r in recs), topo
        assert all(r["cstep_bytes_max"] == rows[topo]["bytes_max_rank"] for r in recs), topo
    res = run_cli(1, ["plan", "ibm1", "--ranks", "2,64", d / "c.txt"], mpi=False)
    assert res.returncode == 0, res.stderr
    assert sum(1 for x in res.stdout.splitlines() if x.strip().startswith("64 ")) == len(TOPOLOGIES)


def test_eval_aer_on_synthetic_gold(corpus, runs):
    d = corpus["dir"]
    res = run_cli(1, ["eval-aer", "--gold", d / "gold.txt", "--predicted", d / "align-allpairs.txt",
                      "--json"], mpi=False)
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["aer"] < 0.35 and s["recall"] > 0.6 and s["n_sure"] == sum(
        len(x.split()) for x in (d / "gold.txt").read_text().splitlines())
    res = run_cli(1, ["eval-aer", "--gold", d / "gold.txt", "--predicted", d / "c.e"], mpi=False)
    assert res.returncode == 2 and "c.e:1: expected links like '3-4' or '3?4'" in res.stderr


@pytest.mark.skipif(not (TRIAL / "dev.wa.nonullalign").exists(),
                    reason=f"NAACL 2003 trial data not found at {TRIAL} (team-shared data, "
                           "deliberately not in the repository)")
def test_train_and_eval_aer_on_naacl_2003_trial(tmp_path):
    out = tmp_path / "trial.align"
    res = run_cli(2, ["train", "ibm1", "--source", TRIAL / "dev.e", "--target", TRIAL / "dev.f",
                      "--max-iter", "10", "--quiet", "--align-out", out])
    assert res.returncode == 0, res.stderr
    assert len(out.read_text().split("\n")[:-1]) == 37
    gold = TRIAL / "dev.wa.nonullalign"
    res = run_cli(1, ["eval-aer", "--gold", gold, "--predicted", out], mpi=False)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [x.split()[0] for x in lines] == ["precision", "recall", "AER"]
    s = json.loads(run_cli(1, ["eval-aer", "--gold", gold, "--predicted", out, "--json"], mpi=False).stdout)
    # 1784 gold links in the file; the NAACL reader counts sure links separately
    assert s["n_possible"] == 1784 - sum(1 for x in gold.read_text().splitlines()
                                         if x.split()[1] == "0" or x.split()[2] == "0")
    assert 0.0 < s["aer"] < 0.9 and 0 < s["precision"] <= 1 and 0 < s["recall"] <= 1


def test_bench_runs_on_a_tiny_corpus():
    res = run_cli(1, ["bench", "ibm1", "--pairs", "300", "--words", "100", "--ranks", "2", "--iters", "2",
                      "--topologies", "allpairs,junction-tree"], mpi=False, timeout=120)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "sentence pairs/s/core" in out and "fast_align" in out
    rows = [x.split() for x in out.splitlines() if x.strip().startswith("2 ")]
    assert [r[1] for r in rows] == ["allpairs", "junction-tree"]
    assert rows[0][8] == "1"          # allpairs: one round (after three "N unit" byte cells)
