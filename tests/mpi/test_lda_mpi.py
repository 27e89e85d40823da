"""LDA on real MPI ranks (run on 1-4): readers split documents exactly, bsp and
rotate equal their serial replays bit for bit, the count invariants and the
staleness bound hold under random stragglers for every scheme, learned topics
match the generating ones, and checkpoints resume bit for bit.

    mpiexec -n 3 python -m mpi4py -m pytest --with-mpi -p no:cacheprovider tests/mpi/test_lda_mpi.py
"""

import numpy as np
import pytest

from mpiml.comm.serial import SerialComm
from mpiml.datasets.topics import synthetic_topics, write_ldac, write_text, write_uci
from mpiml.io.bow import read_bow
from mpiml.runtime.faults import Straggler
from mpiml.topics.lda import LDA
from tests.mpi.conftest import assert_all
from tests.naive.lda import Part, replay_bsp, replay_rotate

pytestmark = pytest.mark.timeout(240, method="thread")

SMALL = synthetic_topics(n_docs=30, n_words=24, n_topics=3, doc_len=16, seed=7)
TOPICS = synthetic_topics(n_docs=150, n_words=50, n_topics=5, doc_len=60, alpha=0.1, seed=2)


@pytest.fixture(scope="module")
def files(comm, tmp_path_factory):
    out = None
    if comm.rank == 0:
        d = tmp_path_factory.mktemp("lda")
        write_ldac(d / "s.ldac", SMALL.docs)
        write_uci(d / "docword.s.txt", d / "vocab.s.txt", SMALL.docs, SMALL.vocab)
        write_text(d / "s.txt", SMALL.docs, SMALL.vocab)
        write_text(d / "topics.txt", TOPICS.docs, TOPICS.vocab)
        out = {k: str(d / n) for k, n in [("ldac", "s.ldac"), ("uci", "docword.s.txt"), ("text", "s.txt"),
                                         ("topics", "topics.txt"), ("dir", "")]}
    return comm.bcast_obj(out)


def gathered_docs(comm, corpus):
    p = corpus.doc_ptr
    mine = [(int(i), corpus.words[p[d]:p[d + 1]].tolist()) for d, i in enumerate(corpus.doc_ids)]
    return [x for part in comm.allgather_obj(mine) for x in part]


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("fmt", ["ldac", "uci", "text"])
def test_readers_split_documents_exactly(comm, files, fmt):
    c = read_bow(comm, files[fmt])
    got = gathered_docs(comm, c)
    ref = read_bow(SerialComm(), files[fmt])
    want = [(int(i), ref.words[ref.doc_ptr[d]:ref.doc_ptr[d + 1]].tolist()) for d, i in enumerate(ref.doc_ids)]
    offs = comm.allgather_obj(c.doc_offset)
    assert_all(comm, got == want and c.n_words == ref.n_words and c.n_tokens == ref.n_tokens
               and offs == sorted(offs), f"{fmt}: distributed read differs from the serial read")


def run(comm, path, sweeps, straggler=None, **kw):
    algo = LDA(data=path, **kw)
    algo.setup(comm)
    algo.initialize(comm)
    slow = Straggler(straggler, comm.rank, 1)
    metrics = []
    for it in range(1, sweeps + 1):
        slow.begin_iteration()
        metrics.append(algo.step(comm, it, slow))
    return algo, metrics


def parts_of(comm, algo, K, seed):
    loc = algo.local_
    shares = comm.allgather_obj((loc.words.tolist(), algo.corpus_.doc_ptr.tolist()))
    return [Part(w, p, K, algo.V_, seed, r) for r, (w, p) in enumerate(shares)]


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("schedule,clock_tokens", [("tables", 0), ("tables", 37), ("rotate", 0)])
def test_bsp_and_rotate_equal_serial_replay(comm, files, schedule, clock_tokens):
    K, seed, sweeps = 4, 3, 3
    algo, _ = run(comm, files["text"], sweeps, topics=K, alpha=0.2, beta=0.05, seed=seed,
                  schedule=schedule, clock_tokens=clock_tokens)
    parts = parts_of(comm, algo, K, seed)
    if schedule == "rotate":
        parts, nkw, nk = replay_rotate(parts, K, algo.V_, 0.2, 0.05, seed, sweeps)
    else:
        parts, nkw, nk = replay_bsp(parts, K, algo.V_, 0.2, 0.05, seed, sweeps, clock_tokens)
    mine = parts[comm.rank]
    ok = (np.array_equal(mine.z, algo.local_.z) and np.array_equal(mine.ndk, algo.local_.ndk)
          and np.array_equal(nkw, algo.nkw_) and np.array_equal(nk, algo.nk_))
    algo.finish(comm)
    assert_all(comm, ok, f"{schedule}: differs from the serial replay")


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("kind", ["ssp", "essp", "async"])
def test_invariants_and_bound_under_random_stragglers(comm, files, kind):
    algo, metrics = run(comm, files["text"], 3, straggler="random:0.3:3", topics=3, consistency=kind,
                        staleness=1, clock_tokens=20, debug_counts=True, debug_staleness=True, seed=1)
    algo.check_counts(comm)            # raises CountsViolation on a broken invariant
    assert_all(comm, all(m["stale_reads"] > 0 for m in metrics))
    if kind != "async":
        assert_all(comm, max(m["stale_max"] for m in metrics) <= 1)
    algo.finish(comm)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("kind", ["ssp", "essp"])
def test_staleness_bound_without_debug_counts(comm, files, kind):
    # --debug-counts synchronises at every clock; without it the reads are really stale
    algo, metrics = run(comm, files["text"], 4, straggler="random:0.3:4", topics=3, consistency=kind,
                        staleness=2, clock_tokens=10, debug_staleness=True, seed=2)
    algo.check_counts(comm)
    assert_all(comm, max(m["stale_max"] for m in metrics) <= 2)
    algo.finish(comm)


def topic_distances(phi_learned, phi_true):
    """Total-variation distance of each generating topic to the learned topic
    it is matched with (Hungarian matching; ``phi_learned`` may have more rows)."""
    from scipy.optimize import linear_sum_assignment
    cost = 0.5 * np.abs(phi_learned[:, None, :] - phi_true[None, :, :]).sum(axis=2)
    r, c = linear_sum_assignment(cost)
    return cost[r, c]


# The corpus has 5 generating topics; the sampler gets 2 more.  With exactly 5,
# collapsed Gibbs from a random start ends in about 1 run in 6 (300 serial
# seeds: 48) in the local optimum that merges two generating topics and splits
# a third, which puts two matched distances at about 0.45 and 0.9; stale
# schemes draw the run's path from the timing, so that optimum (and rarer,
# worse ones) appeared at random under load.  With two spare topics a merged
# topic can split off into a spare one: over 200 serial seeds and 210 runs of
# ssp/essp/async at 2-4 ranks under load 12, no generating topic ended further
# than 0.19 from its match (99% below 0.12).  Broken samplers stay far above
# 0.3: one that ignores the document-topic counts leaves every topic 0.49-0.72
# away (1 and 3 ranks), one whose table never receives the other ranks'
# updates has its worst topic 0.46-0.78 away (2-4 ranks), and uniform or
# random topics are 0.65-0.92 away.  So every generating topic must be within 0.3.
TOPICS_SAMPLED, TV_TOPIC_BOUND = 7, 0.3


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("scheme", [dict(schedule="tables"), dict(schedule="rotate"),
                                    dict(consistency="ssp", staleness=2, clock_tokens=500),
                                    dict(consistency="essp", staleness=2, clock_tokens=500),
                                    dict(consistency="async", clock_tokens=500)],
                         ids=["bsp", "rotate", "ssp", "essp", "async"])
def test_learned_topics_match_generating_topics(comm, files, scheme):
    from mpiml.topics.lda import phi
    K = TOPICS_SAMPLED
    algo, _ = run(comm, files["topics"], 30, topics=K, alpha=0.1, beta=0.01, seed=4, **scheme)
    algo.finish(comm)
    # the text reader numbers words in sorted order; w%04d names sort like their ids
    learned = np.zeros((K, 50))
    used = [int(w[1:]) for w in algo.corpus_.vocab]
    learned[:, used] = phi(algo.nkw_, algo.nk_, algo.beta)
    d = topic_distances(learned, TOPICS.phi)
    assert_all(comm, d.size == 5 and d.max() < TV_TOPIC_BOUND,
               f"{scheme}: TV distances of the generating topics {np.round(d, 3).tolist()}")


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("schedule", ["tables", "rotate"])
def test_checkpoint_resume_is_bit_identical(comm, files, shared_tmp, schedule):
    from mpiml.runtime.loop import RunOptions, host_info, train
    kw = dict(data=files["text"], topics=3, seed=6, schedule=schedule)
    cfg = LDA(**kw).settings.to_config()

    def go(algo, **opts):
        train(algo, comm, RunOptions(quiet=True, seed=6, config=cfg, **opts), host_info(comm))
        return algo
    full = go(LDA(**kw), max_iter=4)
    d = shared_tmp / f"ck-{schedule}"
    first = go(LDA(**kw), max_iter=2, checkpoint_dir=str(d))
    resumed = go(LDA(**kw), max_iter=4, checkpoint_dir=str(d), resume="auto")
    ok = (np.array_equal(full.local_.z, resumed.local_.z) and np.array_equal(full.nkw_, resumed.nkw_)
          and full.ll_ == resumed.ll_ and not np.array_equal(first.local_.z, full.local_.z))
    assert_all(comm, ok, f"{schedule}: resumed run differs from the uninterrupted one")


@pytest.mark.mpi(min_size=2)
def test_essp_push_observes_less_staleness_than_ssp(comm, files):
    """Same corpus, bound, clocks and seeded random stragglers: ESSP's pushed
    replicas are read fresher than SSP's cached rows (wide margin)."""
    means = {}
    for kind in ("ssp", "essp"):
        algo, metrics = run(comm, files["topics"], 3, straggler="random:0.2:4", topics=5,
                            consistency=kind, staleness=4, clock_tokens=100, debug_staleness=True, seed=3)
        hist = sum(np.array([int(m["staleness"].get(str(s), 0)) for s in range(8)]) for m in metrics)
        means[kind] = float((hist * np.arange(8)).sum() / hist.sum())
        assert_all(comm, max(m["stale_max"] for m in metrics) <= 4, f"{kind}: bound broken")
        algo.finish(comm)
    # Measured on 2-4 ranks on the 2 shared cores: ssp 2.4-2.5 and essp 0.7-1.1 at load ~15; at
    # load ~25 on 3 ranks ssp 2.52, essp 1.82 (every worker really lags then, and ESSP reports the
    # true lag of the slowest one).  Without a push the two means would be equal.
    assert_all(comm, means["essp"] < 0.85 * means["ssp"] and means["ssp"] - means["essp"] > 0.3,
               f"mean staleness essp {means['essp']:.2f} vs ssp {means['ssp']:.2f}")
