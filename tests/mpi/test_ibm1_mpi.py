"""IBM Model 1 by fully distributed EM on real MPI ranks, against the dense serial reference.

Run with 1-4 ranks:  mpiexec -n 3 python -m mpi4py -m pytest --with-mpi tests/mpi/test_ibm1_mpi.py
"""

import numpy as np
import pytest

from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em.model import IBM1Model, lookup_theta
from mpiml.em.plan import TOPOLOGIES
from mpiml.runtime.faults import Straggler
from tests.mpi.conftest import assert_all
from tests.naive.ibm1 import ibm1_dense, viterbi_dense


def pair(corpus):
    """The two-file layout of a corpus fixture, as IBM1Model keywords."""
    return {"source": corpus["paths"][0], "target": corpus["paths"][1]}


N_ITER = 4
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def corpus(comm, tmp_path_factory):
    """45 lines: uneven blocks over 2-4 ranks, an empty pair, words only on the last rank."""
    sp = synthetic_parallel(42, n_words=30, seed=11, p_spurious=0.2)
    src = [list(s) for s in sp.src_sents] + [["lonely", "s2"], [], ["lonely", "lonely"]]
    tgt = [list(t) for t in sp.tgt_sents] + [["solo", "t3"], ["orphan"], ["solo"]]
    path = None
    if comm.rank == 0:
        d = tmp_path_factory.mktemp("ibm1mpi")
        (d / "c.e").write_text("".join(" ".join(s) + "\n" for s in src))
        (d / "c.f").write_text("".join(" ".join(t) + "\n" for t in tgt))
        path = str(d)
    d = comm.bcast_obj(path)
    kept = [i for i, s in enumerate(src) if s]
    ref_src, ref_tgt = [src[i] for i in kept], [tgt[i] for i in kept]
    return {"paths": (f"{d}/c.e", f"{d}/c.f"), "src": ref_src, "tgt": ref_tgt, "kept": kept,
            "n_lines": len(src), "ref": ibm1_dense(ref_src, ref_tgt, N_ITER)}


def trained(comm, corpus, topology, n_iter=N_ITER, **kw):
    algo = IBM1Model(**pair(corpus), topology=topology, **kw)
    algo.setup(comm)
    algo.initialize(comm)
    thetas, records = [], []
    for it in range(1, n_iter + 1):
        records.append(algo.step(comm, it, Straggler(None, comm.rank)))
        thetas.append(algo.model_.theta_.copy())
    return algo, thetas, records


def reference_values(algo, si, ti, table):
    c = algo.model_.corpus_
    keys = algo.model_.params_.keys
    return table[[si[c.src_vocab[s]] for s in (keys // c.n_tgt).tolist()],
                 [ti[c.tgt_vocab[t]] for t in (keys % c.n_tgt).tolist()]]


def assert_shared_theta_identical(comm, algo, what):
    """Collective: a parameter held by several ranks has the bit-identical theta
    on all of them; returns every rank's keys and theta, concatenated."""
    all_keys = np.concatenate(comm.allgather_array(algo.model_.params_.keys, kind="test"))
    all_theta = np.concatenate(comm.allgather_array(algo.model_.theta_, kind="test"))
    order = np.argsort(all_keys, kind="stable")
    k, v = all_keys[order], all_theta[order]
    same = k[1:] == k[:-1]
    assert_all(comm, bool(np.all(v[1:][same] == v[:-1][same])), f"shared {what} differs between ranks")
    return all_keys, all_theta


def rel_err(a, b) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b))) if np.size(b) else 0.0


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_theta_after_every_iteration_equals_serial_reference(comm, corpus, topology):
    si, ti, thetas, lls = corpus["ref"]
    edges = [(r, r + 1) for r in range(comm.size - 1)] if topology == "tree" else None   # a chain
    algo, got, records = trained(comm, corpus, topology, tree_edges=edges)
    errs = [rel_err(got[it], reference_values(algo, si, ti, thetas[it])) for it in range(N_ITER)]
    ok = max(errs) <= 1e-12
    ok &= all(abs(r["loglik"] - ll) <= 1e-12 * abs(ll) for r, ll in zip(records, lls))
    obj = [r["objective"] for r in records]
    ok &= all(b <= a for a, b in zip(obj, obj[1:]))
    assert_all(comm, ok, f"rank {comm.rank} {topology}: max relative error per iteration {errs}")

    assert_shared_theta_identical(comm, algo, "theta")

    # measured C-step bytes are the plan's (allreduce counts the whole table per rank)
    plan = algo.plan_summary()
    if topology != "allreduce":
        assert_all(comm, all(r["cstep_bytes"] == plan["bytes_total"] for r in records),
                   f"{[r['cstep_bytes'] for r in records]} vs planned {plan['bytes_total']}")

    # words that occur on the last rank only are held there only
    c = algo.model_.corpus_
    lonely = c.src_vocab.index("lonely")
    mine = bool(np.any(algo.model_.params_.keys // c.n_tgt == lonely))
    holders = comm.allgather_obj(mine, kind="test")
    assert_all(comm, holders == [r == comm.size - 1 for r in range(comm.size)], f"holders {holders}")


@pytest.mark.mpi(min_size=1)
def test_alignments_in_corpus_order_and_checkpoint_round_trip(comm, corpus, shared_tmp):
    from mpiml.io.checkpoint import write
    from mpiml.io.ckpt_read import load
    si, ti, thetas, _ = corpus["ref"]
    algo, _, _ = trained(comm, corpus, "junction-tree", n_iter=2)
    out = shared_tmp / "align.txt"
    algo.model_.write_alignments(out)
    table = np.zeros_like(thetas[1])
    keys = np.concatenate(comm.allgather_array(algo.model_.params_.keys, kind="test"))
    vals = np.concatenate(comm.allgather_array(algo.model_.theta_, kind="test"))
    c = algo.model_.corpus_
    for k, v in zip(keys.tolist(), vals.tolist()):
        table[si[c.src_vocab[k // c.n_tgt]], ti[c.tgt_vocab[k % c.n_tgt]]] = v
    expect = [""] * corpus["n_lines"]
    for line, text in zip(corpus["kept"], viterbi_dense(corpus["src"], corpus["tgt"], si, ti, table)):
        expect[line] = text
    assert_all(comm, out.read_text().split("\n")[:-1] == expect, "alignment file differs")

    root = shared_tmp / "ck"
    write(comm, root, algo.state(comm, 2), algorithm="ibm1", schema=1, config={}, provenance={})
    ck = load(comm, root, "ibm1", 1)
    again = IBM1Model(**pair(corpus), topology="allpairs")
    again.setup(comm)
    again.restore(comm, ck)
    ok = np.array_equal(again.model_.theta_, algo.model_.theta_) and again.model_.iteration_ == 2
    joined = lookup_theta(comm, ck, algo.model_.params_.keys, algo.model_.space_)
    ok &= np.array_equal(joined, algo.model_.theta_)
    assert_all(comm, ok, "theta after restore differs")


@pytest.mark.mpi(min_size=1)
def test_host_aware_junction_tree_equals_serial_and_accounts_cross_host_bytes(comm, corpus):
    """On one host the tree is the plain one; across hosts (tests/multihost) it
    has hosts - 1 cross-host edges. Either way theta is the serial one and the
    measured cross-/intra-host bytes are the plan's."""
    si, ti, thetas, _ = corpus["ref"]
    algo, got, records = trained(comm, corpus, "junction-tree", host_aware=True)
    errs = [rel_err(got[it], reference_values(algo, si, ti, thetas[it])) for it in range(N_ITER)]
    plan = algo.plan_summary()
    ok = max(errs) <= 1e-12
    ok &= plan["host_aware"] and plan["cross_host_tree_edges"] <= plan["n_hosts"] - 1
    ok &= plan["rank_hosts"] == comm.hosts()
    ok &= all(r["cstep_cross_host"] == plan["cross_host_bytes"] and
              r["cstep_intra_host"] == plan["intra_host_bytes"] and
              r["cstep_cross_host"] + r["cstep_intra_host"] == r["cstep_bytes"] for r in records)
    if comm.rank == 0:
        ok &= sum(b for _, _, b in plan["edge_bytes"]) == plan["bytes_total"]
    else:
        ok &= plan["edge_bytes"] is None
    assert_all(comm, ok, f"errors {errs}, plan {plan['cross_host_bytes']}/{plan['intra_host_bytes']}, "
                         f"records {[(r['cstep_cross_host'], r['cstep_intra_host']) for r in records]}")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("topology", ["junction-tree", "allreduce", "mapreduce"])
def test_word_major_and_indexed_estep_give_the_same_theta_bit_for_bit(comm, corpus, topology):
    """The default --estep word-major (no token-pair index, counts written over
    theta) and --estep indexed give the same bits: theta after every iteration,
    the log-likelihoods and the alignments, and theta equals the serial reference."""
    si, ti, thetas, _ = corpus["ref"]
    base, got, records = trained(comm, corpus, topology, estep="indexed")
    low, got_low, records_low = trained(comm, corpus, topology)
    ok = low.model_.params_.idx is None and base.model_.params_.idx is not None
    same = [bool(np.array_equal(a, b)) for a, b in zip(got, got_low)]
    ok &= all(same)
    ok &= [r["loglik"] for r in records] == [r["loglik"] for r in records_low]
    errs = [rel_err(got_low[it], reference_values(low, si, ti, thetas[it])) for it in range(N_ITER)]
    ok &= max(errs) <= 1e-12
    ok &= base.model_.alignment_lines() == low.model_.alignment_lines()
    assert_all(comm, ok, f"rank {comm.rank} {topology}: identical per iteration {same}, errors {errs}")


# ------------------------------------------------------------------ --dtype float32
# A statistic's global value is the float32 sum of the holders' float32
# partial sums (each a float64 sum rounded once), so at p ranks it is a few
# float32 roundings (2^-24 ~ 6e-8 relative each) away from the serial float32
# sum (one float64 sum rounded once): after iteration 1 up to 4 ulps
# (2.2-2.5e-7 measured at 2-4 ranks); the M-step's ratio and the next E-steps
# carry the differences on, about 1e-7 more per iteration (4.9e-7 after 4
# iterations, the most at any rank count and topology). F32_RTOL leaves 8x
# that and still fails on a real error (a lost or doubled contribution moves
# theta by far more than 1e-3). The log-likelihood (float64 sums of logs of
# denominators off by those relative amounts): at most 9.6e-9 relative
# measured; F32_LL_RTOL leaves 10x.
F32_RTOL = 4e-6
F32_LL_RTOL = 1e-7


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("topology,schedule", [(t, "collect-distribute") for t in TOPOLOGIES]
                         + [("junction-tree", "async")])
def test_float32_theta_equals_the_float32_serial_reference(comm, corpus, topology, schedule):
    """--dtype float32 on every topology: theta float32 after every iteration,
    bit for bit the float32 reference at one rank and within F32_RTOL beyond;
    shared parameters identical on all holders; C-step bytes half of float64's
    and equal to the plan; the alignments are the reference's on the same theta."""
    from tests.naive.ibm1 import ibm1_dense_f32
    edges = [(r, r + 1) for r in range(comm.size - 1)] if topology == "tree" else None
    algo, got, records = trained(comm, corpus, topology, tree_edges=edges, dtype="float32",
                                 schedule=schedule)
    c = algo.model_.corpus_
    si = {w: i for i, w in enumerate(c.src_vocab)}
    ti = {w: i for i, w in enumerate(c.tgt_vocab)}
    _, _, thetas, lls = ibm1_dense_f32(corpus["src"], corpus["tgt"], N_ITER, True, si, ti)
    ref = [reference_values(algo, si, ti, thetas[it]) for it in range(N_ITER)]
    ok = all(g.dtype == np.float32 for g in got)
    if comm.size == 1:
        ok &= all(np.array_equal(g, r) for g, r in zip(got, ref))
        ok &= [r["loglik"] for r in records] == lls
        errs = [0.0]
    else:
        errs = [rel_err(g, r) for g, r in zip(got, ref)]
        ok &= max(errs) <= F32_RTOL
        ll_errs = [abs(r["loglik"] - ll) / abs(ll) for r, ll in zip(records, lls)]
        ok &= max(ll_errs) <= F32_LL_RTOL
        errs += ll_errs
    assert_all(comm, ok, f"rank {comm.rank} {topology}/{schedule} float32: errors {errs}")

    all_keys, all_theta = assert_shared_theta_identical(comm, algo, "float32 theta")

    plan = algo.plan_summary()
    algo64, _, rec64 = trained(comm, corpus, topology, n_iter=1, tree_edges=edges, schedule=schedule)
    plan64 = algo64.plan_summary()
    ok = plan["bytes_total"] * 2 == plan64["bytes_total"] or topology == "allreduce"
    ok &= abs(plan["bytes_total"] * 2 - plan64["bytes_total"]) <= 2 * comm.size
    if topology != "allreduce":
        ok &= all(r["cstep_bytes"] == plan["bytes_total"] for r in records)
        ok &= all(2 * r["cstep_bytes"] == rec64[0]["cstep_bytes"] for r in records)
    else:   # the table each rank hands to MPI: half the float64 table
        ok &= all(2 * r["cstep_bytes"] == rec64[0]["cstep_bytes"] for r in records)
    assert_all(comm, ok, f"bytes float32 {plan['bytes_total']} / {[r['cstep_bytes'] for r in records]}, "
                         f"float64 {plan64['bytes_total']} / {rec64[0]['cstep_bytes']}")

    # Viterbi on the float32 theta: the reference's choice on the same values
    table = np.zeros_like(thetas[-1])
    for key, val in zip(all_keys.tolist(), all_theta.tolist()):
        table[si[c.src_vocab[key // c.n_tgt]], ti[c.tgt_vocab[key % c.n_tgt]]] = val
    lines = comm.allgather_obj(algo.model_.alignment_lines(), kind="test")
    mine = [x for part in lines for x in part]
    expect = [""] * corpus["n_lines"]
    for line, text in zip(corpus["kept"], viterbi_dense(corpus["src"], corpus["tgt"], si, ti, table)):
        expect[line] = text
    assert_all(comm, mine == expect, "float32 alignments differ from the reference's on the same theta")


@pytest.mark.mpi(min_size=1)
def test_float32_checkpoint_round_trip_at_any_rank_count(comm, corpus, shared_tmp):
    """A float32 theta is checkpointed as float32 and restored (own rows or the
    distributed join) to the same bits."""
    from mpiml.io.checkpoint import write
    from mpiml.io.ckpt_read import load
    algo, _, _ = trained(comm, corpus, "junction-tree", n_iter=2, dtype="float32")
    root = shared_tmp / "ck32"
    write(comm, root, algo.state(comm, 2), algorithm="ibm1", schema=1, config={}, provenance={})
    ck = load(comm, root, "ibm1", 1)
    ok = ck.read_rows("theta", 0, 1).dtype == np.float32
    again = IBM1Model(**pair(corpus), topology="allpairs", dtype="float32")
    again.setup(comm)
    again.restore(comm, ck)
    ok &= again.model_.theta_.dtype == np.float32
    ok &= np.array_equal(again.model_.theta_, algo.model_.theta_)
    joined = lookup_theta(comm, ck, algo.model_.params_.keys, algo.model_.space_)
    ok &= np.array_equal(joined.astype(np.float32), algo.model_.theta_)
    assert_all(comm, ok, "float32 theta after restore differs")
