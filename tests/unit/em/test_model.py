"""IBM1 through the runtime (training loop, checkpoints, outputs) on simulated ranks."""

import json
import shutil

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.ibm1 import KeySpace
from mpiml.em.model import IBM1Model, lookup_theta, parse_tree_edges, vocab_bytes, vocab_from_bytes
from mpiml.em.plan import TOPOLOGIES
from mpiml.errors import CheckpointError, CollectiveError, ConfigError
from mpiml.io.checkpoint import State, write
from mpiml.io.ckpt_read import Checkpoint
from mpiml.runtime.loop import RunOptions, train
from tests.fakecomm import run_ranks
from tests.naive.ibm1 import ibm1_dense, viterbi_dense


def pair(corpus):
    """The two-file layout of a corpus fixture, as IBM1Model keywords."""
    return {"source": corpus["paths"][0], "target": corpus["paths"][1]}


N_ITER = 4
INFO = {"version": "test", "mpi_library": "fake", "mpi_standard": "-", "mpi4py": "-", "numpy": "-"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """43 lines (uneven over 2, 3, 4 ranks), one empty pair, words on the last rank only."""
    sp = synthetic_parallel(40, n_words=25, seed=4, p_spurious=0.2)
    src = [list(s) for s in sp.src_sents] + [["lonely", "s1"], [], ["lonely"]]
    tgt = [list(t) for t in sp.tgt_sents] + [["solo", "t9"], ["orphan"], ["solo"]]
    d = tmp_path_factory.mktemp("model")
    e, f = d / "c.e", d / "c.f"
    e.write_text("".join(" ".join(s) + "\n" for s in src))
    f.write_text("".join(" ".join(t) + "\n" for t in tgt))
    kept = [i for i, s in enumerate(src) if s]
    return {"paths": (e, f), "src": [src[i] for i in kept], "tgt": [tgt[i] for i in kept],
            "kept": kept, "n_lines": len(src), "dir": d}


class Recording(IBM1Model):
    """Keeps theta (with its keys) after every iteration."""

    def step(self, comm, iteration, straggler):
        out = super().step(comm, iteration, straggler)
        self.history_ = getattr(self, "history_", []) + [self.model_.theta_.copy()]
        return out


def run(n_ranks, make, opts, timeout=60):
    def body(comm):
        algo = make()
        summary = train(algo, comm, opts, dict(INFO))
        return algo, summary
    return run_ranks(n_ranks, body, timeout=timeout)


def table_values(algo, si, ti, table):
    c = algo.model_.corpus_
    keys = algo.model_.params_.keys
    rows = [si[c.src_vocab[s]] for s in (keys // c.n_tgt).tolist()]
    cols = [ti[c.tgt_vocab[t]] for t in (keys % c.n_tgt).tolist()]
    return table[rows, cols]


def user_tree(topology, size):
    return ",".join(f"{r}-{r + 1}" for r in range(size - 1)) if topology == "tree" else None   # a chain


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("size", [1, 3, 4])
def test_runtime_training_equals_serial_reference(corpus, tmp_path, topology, size):
    si, ti, thetas, lls = ibm1_dense(corpus["src"], corpus["tgt"], N_ITER)
    align, tt, log = tmp_path / "a.txt", tmp_path / "tt.tsv", tmp_path / "log.jsonl"
    results = run(size, lambda: Recording(**pair(corpus), topology=topology,
                                          tree_edges=user_tree(topology, size), align_out=align,
                                          export_ttable=3, ttable_out=tt),
                  RunOptions(max_iter=N_ITER, quiet=True, log=str(log)))
    seen = {}
    for algo, summary in results:
        for it in range(N_ITER):   # after every iteration, on every rank
            ref = table_values(algo, si, ti, thetas[it])
            np.testing.assert_allclose(algo.history_[it], ref, rtol=1e-12, atol=0)
        for k, v in zip(algo.model_.params_.keys.tolist(), algo.model_.theta_.tolist()):
            assert seen.setdefault(k, v) == v        # identical on every holder
        assert summary["iterations"] == N_ITER and summary["n_empty"] == 1
        assert summary["empty_lines"] == [42]     # 1-based line of the empty pair
        assert summary["plan"]["topology"] == topology
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    iters = [r for r in recs if "iter" in r]
    assert [r["loglik"] for r in iters] == pytest.approx(lls, rel=1e-12)
    obj = [r["objective"] for r in iters]
    assert all(b <= a for a, b in zip(obj, obj[1:]))       # -loglik never increases
    plan = results[0][1]["plan"]
    if topology != "allreduce":
        assert all(r["cstep_bytes"] == plan["bytes_total"] for r in iters)
        assert all(r["cstep_bytes_max"] == plan["bytes_max_rank"] for r in iters)
    if topology == "tree" and size > 1:
        assert plan["tree_edges"] == [[r, r + 1] for r in range(size - 1)]
    # alignments in corpus order, equal to the reference argmax under the final theta
    c0 = results[0][0].model_.corpus_
    final = np.zeros_like(thetas[-1])
    for k, v in seen.items():
        final[si[c0.src_vocab[k // c0.n_tgt]], ti[c0.tgt_vocab[k % c0.n_tgt]]] = v
    expect = [""] * corpus["n_lines"]
    for line, text in zip(corpus["kept"], viterbi_dense(corpus["src"], corpus["tgt"], si, ti, final)):
        expect[line] = text
    assert align.read_text().split("\n")[:-1] == expect
    # top-3 table: per source word, the 3 largest theta (ties by target id)
    lines = tt.read_text().splitlines()
    want = []
    for s in range(c0.n_src):
        row = sorted((-v, k % c0.n_tgt) for k, v in seen.items() if k // c0.n_tgt == s)[:3]
        want += [f"{c0.src_vocab[s]}\t{c0.tgt_vocab[t]}\t{-v:.8g}" for v, t in row]
    assert lines == want


def _theta_map(ckdir):
    ck = Checkpoint(ckdir)
    return ck, dict(zip(ck.read_rows("keys").tolist(), ck.read_rows("theta").tolist()))


def test_resume_bit_identical_at_same_count_and_close_at_another(corpus, tmp_path, monkeypatch):
    import mpiml.em.model as model
    joins = []
    real = model.lookup_theta
    monkeypatch.setattr(model, "lookup_theta", lambda comm, *a: joins.append(comm.size) or real(comm, *a))
    make = lambda: IBM1Model(**pair(corpus), topology="junction-tree")   # noqa: E731
    full, part = tmp_path / "full", tmp_path / "part"
    run(3, make, RunOptions(max_iter=5, quiet=True, checkpoint_dir=str(full)))
    run(3, make, RunOptions(max_iter=2, quiet=True, checkpoint_dir=str(part)))
    ck_full, want = _theta_map(full)
    for n in (3, 2, 4):
        d = tmp_path / f"resume{n}"
        shutil.copytree(part, d)
        out = run(n, make, RunOptions(max_iter=5, quiet=True, checkpoint_dir=str(d), resume="auto"))
        ck, got = _theta_map(d)
        assert ck.iteration == 5 and ck.n_ranks == n and set(got) == set(want)
        # same layout: each rank reads its own rows; otherwise the distributed join
        assert joins == ([] if n == 3 else [n] * n)
        joins.clear()
        if n == 3:
            assert np.array_equal(ck.read_rows("theta"), ck_full.read_rows("theta"))
            assert np.array_equal(ck.read_rows("keys"), ck_full.read_rows("keys"))
        else:
            np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-12)
        assert out[0][1]["iterations"] == 5
    # the checkpoint carries the vocabularies, so the table can be read without the corpus
    src_vocab = vocab_from_bytes(ck_full.replicated("src_vocab"))
    assert src_vocab[0] == "<NULL>" and "lonely" in src_vocab
    assert ck_full.meta["n_src"] == len(src_vocab)


def test_resume_on_another_corpus_is_refused(corpus, tmp_path):
    ck = tmp_path / "ck"
    run(2, lambda: IBM1Model(**pair(corpus)), RunOptions(max_iter=1, quiet=True, checkpoint_dir=str(ck)))
    e, f = tmp_path / "o.e", tmp_path / "o.f"
    e.write_text("a b\nc\n")
    f.write_text("x y\nz\n")
    # Refused by the input fingerprints first (issue 10) ...
    with pytest.raises(CollectiveError, match="--source .*o.e: content changed"):
        run(2, lambda: IBM1Model(source=e, target=f), RunOptions(max_iter=2, quiet=True, checkpoint_dir=str(ck),
                                                   resume="auto"))
    # ... and, past them, by the model's own corpus check.
    with pytest.raises(CollectiveError, match="trained on another corpus"):
        run(2, lambda: IBM1Model(source=e, target=f), RunOptions(max_iter=2, quiet=True, checkpoint_dir=str(ck),
                                                   resume="auto", allow_changed_data=True))


def test_lookup_theta_joins_any_layout_and_reports_missing(tmp_path):
    space = KeySpace(7, 5)
    rng = np.random.default_rng(0)
    blocks = [np.unique(rng.integers(0, 35, size=12)) for _ in range(3)]
    value = lambda k: 1.0 / (1 + k)   # noqa: E731  (same value for a key on every writer)

    def write_ck(comm):
        k = blocks[comm.rank]
        off = sum(b.size for b in blocks[:comm.rank])
        total = sum(b.size for b in blocks)
        write(comm, tmp_path / "ck", State(1, distributed={"keys": (k, off, total),
                                                           "theta": (value(k), off, total)}),
              algorithm="t", schema=1, config={}, provenance={})

    run_ranks(3, write_ck)
    ck = Checkpoint(tmp_path / "ck")
    union = np.unique(np.concatenate(blocks))
    wants = np.array_split(rng.permutation(union), 4)
    got = run_ranks(4, lambda comm: lookup_theta(comm, ck, wants[comm.rank], space))
    for w, g in zip(wants, got):
        assert np.array_equal(g, value(w))
    absent = np.setdiff1d(np.arange(35), union)[:1]
    with pytest.raises(CheckpointError, match="lacks theta for 1 parameters of rank 1"):
        run_ranks(2, lambda comm: lookup_theta(comm, ck, absent if comm.rank == 1 else union, space))


@pytest.mark.parametrize("kw,message", [
    ({"topology": "tree"}, "--topology tree needs --tree-edges"),
    ({"topology": "tree", "tree_edges": [(0, 1), (1, 0)]}, "cycle"),
    ({"topology": "tree", "tree_edges": [(0, 1)]}, "needs 2 edges"),
    ({"tree_edges": [(0, 1), (1, 2)]}, "only used with --topology tree"),
    ({"topology": "ring"}, "--topology: expected one of .*; got 'ring'"),
    ({"export_ttable": 3}, "needs --ttable-out"),
    ({"align_out": "/nonexistent/dir/a.txt"}, "does not exist"),
])
def test_bad_options_are_config_errors(corpus, kw, message):
    with pytest.raises(ConfigError, match=message):
        IBM1Model(**pair(corpus), **kw)._check_options(3)


def test_layout_options():
    with pytest.raises(ConfigError, match="either --corpus"):
        IBM1Model(source="a", target="b", corpus="c")
    with pytest.raises(ConfigError, match="needs both"):
        IBM1Model(source="a")
    assert parse_tree_edges("0-1, 1-2,") == [(0, 1), (1, 2)]
    with pytest.raises(ConfigError, match="'0:1'"):
        parse_tree_edges("0:1")
    words = ["<NULL>", "é", "a"]
    assert vocab_from_bytes(vocab_bytes(words)) == words and vocab_from_bytes(vocab_bytes([])) == []


def test_cli_defaults_and_report():
    from mpiml.cli import build_parser
    from mpiml.cli.algo_ibm1 import report
    p = build_parser()
    a = p.parse_args(["train", "ibm1", "--corpus", "x"])
    assert a.max_iter == 5 and a.topology == "junction-tree" and a.null and a.empty == "skip"
    a = p.parse_args(["train", "ibm1", "--corpus", "x", "--max-iter", "7", "--no-null"])
    assert a.max_iter == 7 and not a.null
    assert p.parse_args(["train", "kmeans", "--data", "x", "--k", "2"]).max_iter == 100
    text = report({"iterations": 5, "n_pairs": 10, "src_vocab": 3, "tgt_vocab": 4, "loglik": -1.5,
                   "perplexity": 2.0, "read_s": 0.1, "setup_s": 0.2, "params_s": 0.15, "plan_s": 0.05, "n_empty": 1, "empty_lines": [7],
                   "plan": {"topology": "tree", "rounds": 3, "bytes_total": 2048, "bytes_max_rank": 1024,
                            "statistics": 9, "shared_statistics": 4, "tree_edges": [[0, 1], [1, 2]],
                            "root": 1},
                   "alignments": "a.txt", "ttable": "t.tsv", "ttable_k": 2})
    for want in ("5 EM iterations on 10 sentence pairs", "3 rounds, 2.0 KB per iteration",
                 "tree: 0-1,1-2, root 1", "skipped 1 pair(s) with an empty side (lines 7)",
                 "alignments: a.txt", "translation table (top 2): t.tsv"):
        assert want in text


@pytest.mark.parametrize("stored_low_memory", [False, True])
@pytest.mark.parametrize("estep", ["word-major", "indexed"])
def test_checkpoints_with_the_old_low_memory_key_resume(stored_low_memory, estep):
    """--estep replaced the boolean --low-memory: a checkpoint that stored either
    value resumes under either E-step (it is not model-defining; the bits agree)."""
    algo = IBM1Model(source="c.e", target="c.f", estep=estep)
    stored = {**algo.settings.to_config(), "low_memory": stored_low_memory}
    del stored["estep"]
    assert algo.resume_conflicts(stored, algo.settings.to_config()) == []
    # while the model-defining NULL option is still guarded
    assert algo.resume_conflicts({**stored, "null": False}, algo.settings.to_config())


def test_low_memory_is_a_deprecated_alias_of_the_word_major_estep():
    """--low-memory (released before --estep) still runs: the word-major E-step,
    a deprecation warning, nothing extra stored; with --estep indexed it is refused."""
    from mpiml.em.settings import IBM1Settings
    from mpiml.errors import ConfigError
    s = IBM1Settings(corpus="c.txt", low_memory=True)
    assert s.estep == "word-major"
    assert any("--low-memory is deprecated" in w for w in s.warnings())
    assert not any("deprecated" in w for w in IBM1Settings(corpus="c.txt").warnings())
    assert "low_memory" not in s.to_config() and s.to_config() == IBM1Settings(corpus="c.txt").to_config()
    assert IBM1Settings(corpus="c.txt", low_memory=True, estep="word-major").estep == "word-major"
    with pytest.raises(ConfigError, match="cannot be combined with --estep indexed") as exc:
        IBM1Settings(corpus="c.txt", low_memory=True, estep="indexed")
    assert exc.value.exit_code == 2
    # ... and the model built from it runs the word-major E-step
    assert IBM1Model(s).settings.estep == "word-major"
