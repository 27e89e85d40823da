"""IBM1 with --dtype float32: the float32 serial reference bit for bit, the
float64 default untouched, float32 next to float64, checkpoints and resume."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from mpiml.comm.serial import SerialComm
from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em import ibm1
from mpiml.em.aer import evaluate
from mpiml.em.distplan import build_rank_plan
from mpiml.em.distributed import DistributedIBM1, one_rank_plan, plan_info_in_bytes_of
from mpiml.em.model import IBM1Model
from mpiml.em.settings import IBM1Settings
from mpiml.errors import CollectiveError, ConfigError
from mpiml.io.ckpt_read import Checkpoint
from mpiml.io.corpus import encode_pairs
from mpiml.runtime.loop import RunOptions, train
from tests.fakecomm import run_ranks
from tests.naive.ibm1 import ibm1_dense, ibm1_dense_f32, viterbi_dense
from tests.unit.em.test_kernels import dense_at, hand_corpus

TRIAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "naacl2003_trial"
INFO = {"version": "test", "mpi_library": "fake", "mpi_standard": "-", "mpi4py": "-", "numpy": "-"}


def corpora():
    src, tgt = hand_corpus()
    yield "hand", src, tgt
    sp = synthetic_parallel(120, n_words=40, seed=3, p_spurious=0.3)
    # repeated source and target words inside sentences
    yield "synthetic", [s + s[:2] for s in sp.src_sents], [t + t[-1:] for t in sp.tgt_sents]


def model_ids(corpus):
    """Rows and columns of the reference in the fast path's vocabulary ids (its summation order)."""
    return ({w: i for i, w in enumerate(corpus.src_vocab)}, {w: i for i, w in enumerate(corpus.tgt_vocab)})


@pytest.mark.parametrize("block", [None, 5])
@pytest.mark.parametrize("null", [True, False])
@pytest.mark.parametrize("name,src,tgt", list(corpora()))
def test_float32_equals_the_float32_reference_bit_for_bit(name, src, tgt, null, block, monkeypatch):
    """Both E-steps, every iteration: statistics float32, theta and the
    log-likelihood the reference's bits (same float64 sums, same order); the
    word-major E-step still writes over theta; block boundaries (5 target
    tokens: pairs cut everywhere) change nothing."""
    if block is not None:
        monkeypatch.setattr(ibm1, "F32_BLOCK_TOKENS", block)
    corpus = encode_pairs(src, tgt)
    si, ti = model_ids(corpus)
    _, _, thetas, lls = ibm1_dense_f32(src, tgt, 5, null, si, ti)
    for low in (True, False):
        p = ibm1.build_local_params(corpus, null, low_memory=low)
        th = ibm1.uniform_theta(p, "float32")
        assert th.dtype == np.float32
        for it in range(5):
            stats, ll = ibm1.estep_stats(p, corpus, th)
            assert stats.dtype == np.float32 and np.shares_memory(stats, th) == low
            n = p.n_params
            th = ibm1.mstep(stats[:n], stats[n:], p, out=stats[:n])
            assert th.dtype == np.float32
            assert np.array_equal(th, dense_at(corpus, p.keys, si, ti, thetas[it])), (low, it)
            assert ll == lls[it], (low, it)
        best = ibm1.pharaoh_lines(corpus, ibm1.viterbi(p, corpus, th))
        assert best == viterbi_dense(src, tgt, si, ti, thetas[-1], null=null)


def test_the_reference_is_not_float64_in_disguise():
    """The float32 reference differs from the float64 one (and is close to it),
    so equality with it tests the float32 path."""
    src, tgt = list(corpora())[1][1:]
    _, _, t32, ll32 = ibm1_dense_f32(src, tgt, 3)
    _, _, t64, ll64 = ibm1_dense(src, tgt, 3)
    assert t32[-1].dtype == np.float32 and not np.array_equal(t32[-1], t64[-1].astype(np.float32))
    np.testing.assert_allclose(t32[-1], t64[-1], rtol=1e-4, atol=1e-9)
    assert ll32 != ll64


def test_float64_default_is_unchanged():
    """The default type: float64 statistics, theta 1e-12 from the dense
    reference (as before the option), and IBM1(dtype='float64') is the default."""
    src, tgt = list(corpora())[1][1:]
    corpus = encode_pairs(src, tgt)
    si, ti, thetas, lls = ibm1_dense(src, tgt, 4)
    default = ibm1.IBM1(n_iter=4).fit(corpus)
    explicit = ibm1.IBM1(n_iter=4, dtype="float64").fit(corpus)
    assert default.theta_.dtype == np.float64
    assert np.array_equal(default.theta_, explicit.theta_) and default.loglik_ == explicit.loglik_
    np.testing.assert_allclose(default.theta_, dense_at(corpus, default.params_.keys, si, ti, thetas[-1]),
                               rtol=1e-12, atol=0)


def test_float32_loglik_and_theta_close_to_float64():
    """float32 vs float64 on a synthetic corpus, 10 iterations: the
    log-likelihood within 1e-6 relative (theta's relative rounding is
    2^-24 = 6e-8 per value; measured about 1e-9 here), theta within 1e-4."""
    sp = synthetic_parallel(400, n_words=200, seed=5, p_spurious=0.2)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    f64 = ibm1.IBM1(n_iter=10).fit(corpus)
    f32 = ibm1.IBM1(n_iter=10, dtype="float32").fit(corpus)
    rel = [abs(a - b) / abs(b) for a, b in zip(f32.loglik_, f64.loglik_)]
    assert max(rel) <= 1e-6 and min(rel) > 0, rel
    assert all(b >= a for a, b in zip(f32.loglik_, f32.loglik_[1:]))   # EM still ascends
    np.testing.assert_allclose(f32.theta_, f64.theta_, rtol=1e-4, atol=1e-7)


def test_float_type_and_the_option():
    assert ibm1.float_type("float32") == np.float32 and ibm1.float_type(np.float64) == np.float64
    with pytest.raises(ValueError, match="float64 or float32, not float16"):
        ibm1.float_type("float16")
    s = IBM1Settings(corpus="c.txt")
    assert s.dtype == "float64" and s.model_config()["dtype"] == "float64"
    assert IBM1Settings(corpus="c.txt", dtype="float32").dtype == "float32"
    with pytest.raises(ConfigError, match="dtype"):
        IBM1Settings(corpus="c.txt", dtype="float16")
    algo = IBM1Model(corpus="c.txt", dtype="float32")
    # a float32 checkpoint refuses float64 and the other way round; an old
    # checkpoint (no dtype stored) ran in float64
    assert algo.resume_conflicts({"dtype": "float32"}) == []
    assert algo.resume_conflicts({"dtype": "float64"}) == ["--dtype was 'float64', now 'float32'"]
    assert algo.resume_conflicts({}) == ["--dtype was 'float64', now 'float32'"]
    assert IBM1Model(corpus="c.txt").resume_conflicts({}) == []


def test_one_rank_plan_needs_no_keys_and_equals_the_planner():
    """At one rank the point-to-point plans are built without the int64 keys;
    same facts as build_rank_plan's, and the same theta as the keyed allreduce."""
    sp = synthetic_parallel(60, n_words=30, seed=2)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    p = ibm1.build_local_params(corpus, low_memory=True)
    for topology, edges in (("junction-tree", None), ("tree", []), ("allpairs", None)):
        plan, info = one_rank_plan(p, topology, edges)
        ref_plan, ref = build_rank_plan(SerialComm(), p.stat_keys, topology, p.space, tree_edges=edges)
        assert plan.own_keys is None and plan.steps == [] == ref_plan.steps and ref_plan.own_pos is None
        for f in ("topology", "bytes_total", "bytes_max_rank", "n_rounds", "n_keys", "n_shared_keys",
                  "root", "cross_host_bytes", "intra_host_bytes", "edge_bytes"):
            assert getattr(info, f) == getattr(ref, f), f
        assert (info.tree_edges is None) == (ref.tree_edges is None)
    with pytest.raises(ConfigError, match="edge list"):
        one_rank_plan(p, "tree", None)
    with pytest.raises(ValueError, match="needs the keys"):
        one_rank_plan(p, "mapreduce")
    keyless = DistributedIBM1(SerialComm(), "junction-tree", dtype="float32").setup(corpus)
    keyed = DistributedIBM1(SerialComm(), "allreduce", dtype="float32").setup(corpus)
    assert keyless.cstep_.plan.own_keys is None
    for _ in range(3):
        assert keyless.iterate().loglik == keyed.iterate().loglik
    assert np.array_equal(keyless.theta_, keyed.theta_)


class _Info:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_plan_bytes_for_float32_values():
    """Point-to-point bytes halve exactly; allreduce's model is recomputed
    from the union (2 (p - 1) / p x 4 bytes x union per rank)."""
    from mpiml.em.distplan import PlanInfo
    info = PlanInfo("junction-tree", 800, 480, 2, 10, 5, None, None, 0.0, 320, 480,
                    [(0, 1, 480), (1, 0, 320)])
    half = plan_info_in_bytes_of(info, None, 4, ["a", "b"])
    assert (half.bytes_total, half.bytes_max_rank, half.cross_host_bytes, half.intra_host_bytes) == (400, 240, 160, 240)
    assert half.edge_bytes == [(0, 1, 240), (1, 0, 160)] and info.bytes_total == 800
    assert plan_info_in_bytes_of(info, None, 8, ["a", "b"]) is info
    # 3 ranks, 12 statistics in the union: 2 * 2/3 * 8 * 12 = 128 bytes per rank in float64
    ar = PlanInfo("allreduce", 3 * 128, 128, 4, 10, 5, None, None, 0.0, 0, 3 * 128, [])
    got = plan_info_in_bytes_of(ar, _Info(union_size=12), 4, ["h"] * 3)
    assert (got.bytes_total, got.bytes_max_rank, got.intra_host_bytes) == (3 * 64, 64, 3 * 64)
    assert got.edge_bytes == [(0, 1, 64), (1, 2, 64), (2, 0, 64)]


# ------------------------------------------------------------------ training loop, checkpoints
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    sp = synthetic_parallel(40, n_words=25, seed=4, p_spurious=0.2)
    d = tmp_path_factory.mktemp("f32")
    sp.write_two_files(d / "c.e", d / "c.f")
    return {"source": d / "c.e", "target": d / "c.f"}


def run(n_ranks, make, opts):
    return run_ranks(n_ranks, lambda comm: train(make(), comm, opts, dict(INFO)), timeout=60)


def test_float32_checkpoint_resumes_in_float32_and_refuses_float64(files, tmp_path):
    make32 = lambda: IBM1Model(**files, dtype="float32")   # noqa: E731
    full, part = tmp_path / "full", tmp_path / "part"
    run(2, make32, RunOptions(max_iter=4, quiet=True, checkpoint_dir=str(full)))
    run(2, make32, RunOptions(max_iter=2, quiet=True, checkpoint_dir=str(part)))
    ck = Checkpoint(full)
    assert ck.read_rows("theta").dtype == np.float32 and ck.config["dtype"] == "float32"
    # the same rank count: bit for bit; another: the same float32 values (a join, no arithmetic)
    for n in (2, 3):
        d = tmp_path / f"resume{n}"
        shutil.copytree(part, d)
        run(n, make32, RunOptions(max_iter=4, quiet=True, checkpoint_dir=str(d), resume="auto"))
        got = Checkpoint(d)
        assert got.iteration == 4 and got.read_rows("theta").dtype == np.float32
        if n == 2:
            assert np.array_equal(got.read_rows("theta"), ck.read_rows("theta"))
    d = tmp_path / "refused"
    shutil.copytree(part, d)
    with pytest.raises(CollectiveError, match=r"cannot --resume .*--dtype was 'float32', now 'float64'"):
        run(2, lambda: IBM1Model(**files), RunOptions(max_iter=4, quiet=True, checkpoint_dir=str(d),
                                                      resume="auto"))
    # a float64 checkpoint refuses float32 the same way
    d64 = tmp_path / "f64"
    run(1, lambda: IBM1Model(**files), RunOptions(max_iter=1, quiet=True, checkpoint_dir=str(d64)))
    assert Checkpoint(d64).read_rows("theta").dtype == np.float64
    with pytest.raises(CollectiveError, match="--dtype was 'float64', now 'float32'"):
        run(1, make32, RunOptions(max_iter=2, quiet=True, checkpoint_dir=str(d64), resume="auto"))


def test_float32_translation_table_and_alignments(files, tmp_path):
    """--save-table style outputs in float32: the top-k table prints the float32
    values and the alignments are the float32 reference's Viterbi."""
    out, tt = tmp_path / "a.txt", tmp_path / "t.tsv"
    run(3, lambda: IBM1Model(**files, dtype="float32", align_out=str(out), export_ttable=2,
                             ttable_out=str(tt)), RunOptions(max_iter=3, quiet=True))
    src = [x.split() for x in Path(files["source"]).read_text().splitlines()]
    tgt = [x.split() for x in Path(files["target"]).read_text().splitlines()]
    ref = IBM1Model(**files, dtype="float32")
    ref.setup(SerialComm())
    si, ti = model_ids(ref.model_.corpus_)
    _, _, thetas, _ = ibm1_dense_f32(src, tgt, 3, True, si, ti)
    # 3 ranks sum their partial counts in float32: a few ulps off the serial sums,
    # never enough to change a float32-printed probability by more than 1e-5 relative
    rows = [x.split("\t") for x in tt.read_text().splitlines()]
    assert rows
    for s, t, prob in rows:
        assert float(prob) == pytest.approx(float(thetas[-1][si[s], ti[t]]), rel=1e-5)
    assert out.read_text().splitlines() == viterbi_dense(src, tgt, si, ti, thetas[-1])


@pytest.mark.skipif(not (TRIAL / "dev.wa.nonullalign").exists(),
                    reason=f"NAACL 2003 trial data not found at {TRIAL} (team-shared data, "
                           "deliberately not in the repository)")
def test_float32_aer_on_the_naacl_2003_trial_equals_float64(tmp_path):
    """The 37 gold-aligned Hansards sentences, 10 iterations: AER of float32
    within 0.005 of float64's."""
    e = (TRIAL / "dev.e").read_text(encoding="utf-8").split("\n")[:37]
    f = (TRIAL / "dev.f").read_text(encoding="utf-8").split("\n")[:37]
    corpus = encode_pairs([x.split() for x in e], [x.split() for x in f])
    aer = {}
    for dtype in ("float64", "float32"):
        model = ibm1.IBM1(n_iter=10, dtype=dtype).fit(corpus)
        path = tmp_path / f"{dtype}.align"
        path.write_text("\n".join(model.align(corpus)) + "\n")
        aer[dtype] = evaluate(TRIAL / "dev.wa.nonullalign", path).aer
    assert 0.0 < aer["float64"] < 0.9
    assert abs(aer["float32"] - aer["float64"]) <= 0.005, aer
