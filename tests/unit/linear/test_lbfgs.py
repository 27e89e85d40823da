"""L-BFGS building blocks without MPI: the vector-free two-loop equals the
textbook one, the Gram matrix stays equal to the dot products, the feature
exchange moves the right values, losses and metrics, and the whole solver on
simulated ranks (threads) against the serial reference."""

import numpy as np
import pytest

from mpiml.comm.serial import SerialComm
from mpiml.datasets.linear import make_classification, write_libsvm
from mpiml.errors import ConfigError
from mpiml.linear import losses
from mpiml.linear.exchange import FeatureExchange
from mpiml.linear.lbfgs import LinearLBFGS, bytes_per_iteration
from mpiml.linear.qn import History, orthant_project, pseudo_gradient
from mpiml.linear.sharded import DotBatch, FeatureLayout, ShardedVector
from mpiml.runtime.faults import Straggler
from tests.fakecomm import run_ranks
from tests.naive.lbfgs import Problem, minimize, two_loop


def pairs(rng, d, k):
    """Pairs with positive curvature (y = A s for an SPD A)."""
    A = rng.normal(size=(d, d))
    A = A @ A.T + d * np.eye(d)
    S = [rng.normal(size=d) for _ in range(k)]
    return S, [A @ s for s in S]


@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_vector_free_two_loop_equals_the_textbook_recursion(k):
    rng = np.random.default_rng(k)
    d, m = 12, 5
    S, Y = pairs(rng, d, k)
    v = rng.normal(size=d)
    h = History(d, m)
    comm = SerialComm()
    h.start(comm, v)
    for s, y in zip(S, Y):
        assert h.update(comm, s, y, v)
    c = h.coefficients()
    p = h.combine(c, v)
    ref = two_loop(v, S[-m:], Y[-m:])     # the memory keeps the last m pairs
    assert h.k == min(k, m)
    assert np.allclose(p, ref, rtol=1e-12, atol=1e-13)
    assert np.isclose(h.directional(c), v @ ref, rtol=1e-12)


def test_gram_matrix_tracks_the_dot_products_and_skips_bad_curvature():
    rng = np.random.default_rng(3)
    d, m = 9, 3
    S, Y = pairs(rng, d, 6)
    h = History(d, m)
    comm = SerialComm()
    v = rng.normal(size=d)
    h.start(comm, v)
    for s, y in zip(S, Y):
        v = rng.normal(size=d)
        h.update(comm, s, y, v)
    B = np.column_stack([h.S[:, :h.k], h.Y[:, :h.k], v])
    assert np.allclose(h.gram(), B.T @ B, rtol=1e-12)
    assert np.array_equal(h.S[:, -1], S[-1])
    # negative curvature: the pair is not stored, v's dots are still refreshed
    v2 = rng.normal(size=d)
    assert not h.update(comm, S[0], -Y[0], v2)
    assert h.k == m and h.skipped == 1 and np.isclose(h.vv, v2 @ v2)
    assert np.allclose(h.Sv[:m], h.S.T @ v2)


def test_sharded_vector_ops_on_simulated_ranks():
    x = np.arange(10.0)
    y = np.linspace(-1, 1, 10)

    def fn(comm):
        lay = FeatureLayout(10, comm.size, comm.rank)
        a = ShardedVector(comm, lay, x[lay.lo:lay.hi].copy())
        b = ShardedVector(comm, lay, y[lay.lo:lay.hi].copy())
        c = a.copy().axpy(2.0, b).scal(0.5)          # local
        batch = DotBatch(comm)
        i, j = batch.add(a, b), batch.add_columns(a, np.column_stack([b.local, c.local]))
        r = batch.reduce()
        return a.dot(b), a.norm(), c.norm_inf(), r[i], r[j], np.concatenate(comm.allgather_obj(c.local))

    for dot, nrm, ninf, bi, bj, c in run_ranks(3, fn):
        assert np.isclose(dot, x @ y) and np.isclose(nrm, np.linalg.norm(x))
        assert np.allclose(c, 0.5 * (x + 2 * y)) and np.isclose(ninf, np.abs(c).max())
        assert np.isclose(bi, x @ y) and np.allclose(bj, [x @ y, x @ c])


@pytest.mark.parametrize("plan", ["sparse", "dense"])
def test_exchange_pushes_sums_to_owners_and_fetches_touched_values(plan):
    D = 23
    touched = {0: [1, 2, 9, 22], 1: [0, 2, 3, 15, 16], 2: [2, 9, 10]}
    w = np.arange(D, dtype=float) * 1.5

    def fn(comm):
        lay = FeatureLayout(D, comm.size, comm.rank)
        x = FeatureExchange(comm, lay, np.array(touched[comm.rank]), plan)
        buf = np.zeros(x.n_buffer)
        pos = np.searchsorted(x.touched, touched[comm.rank])
        buf[pos] = 10.0 ** comm.rank                 # each rank adds 10^rank at its features
        return lay.lo, x.push_add(buf), x.fetch(w[lay.lo:lay.hi]), x.touched, x.halo, x.plan

    want = np.zeros(D)
    for r, t in touched.items():
        want[t] += 10.0 ** r
    out = run_ranks(3, fn)
    got = np.concatenate([o[1] for o in out])
    assert np.array_equal(got, want)
    for lo, _, fetched, t, halo, chosen in out:
        assert chosen == plan and np.array_equal(fetched, w[t])
    if plan == "sparse":
        lay = [FeatureLayout(D, 3, r) for r in range(3)]
        remote = sum(sum(1 for j in t if not lay[r].lo <= j < lay[r].hi) for r, t in touched.items())
        assert out[0][4] == remote
    else:
        assert out[0][4] == D * 2 and out[0][3].size == D


def test_auto_plan_picks_the_cheaper_exchange():
    def fn(comm):
        lay = FeatureLayout(1000, comm.size, comm.rank)
        few = FeatureExchange(comm, lay, np.array([comm.rank, 500 + comm.rank]))
        every = FeatureExchange(comm, lay, np.arange(1000))
        return few.plan, every.plan
    assert run_ranks(2, fn) == [("sparse", "dense")] * 2


def test_losses_slopes_are_derivatives():
    rng = np.random.default_rng(0)
    z = rng.normal(size=50) * 2
    for loss in losses.SMOOTH_LOSSES:
        y = rng.normal(size=50) if loss == "squared" else np.sign(rng.normal(size=50))
        eps = 1e-6
        fd = np.array([(losses.loss_sum(z + eps * e, y, loss) - losses.loss_sum(z - eps * e, y, loss)) / (2 * eps)
                       for e in np.eye(50)])
        assert np.allclose(losses.slopes(z, y, loss), fd, atol=1e-6), loss


def test_auc_exact_and_binned():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(1)
    y = np.sign(rng.normal(size=400))
    z = y * 0.8 + rng.normal(size=400)
    exact = losses.auc_exact(z, y)
    assert np.isclose(exact, roc_auc_score(y, z))
    pos, neg = losses.score_histograms(z, y)
    binned, bound = losses.auc_from_histograms(pos, neg)
    assert abs(binned - exact) <= bound and bound < 5e-3
    # sums from two halves reduce to the same metrics as the whole
    parts = losses.metric_sums(z[:150], y[:150], "logistic") + losses.metric_sums(z[150:], y[150:], "logistic")
    assert losses.metrics_from_sums(parts, "logistic")["auc"] == binned


def test_owlqn_pseudo_gradient_and_projection():
    w = np.array([1.0, -1.0, 0.0, 0.0, 0.0, 0.0])
    g = np.array([0.2, 0.2, -0.5, 0.5, 0.05, 0.3])
    pen = np.array([True] * 5 + [False])
    v = pseudo_gradient(w, g, 0.1, pen)
    assert np.allclose(v, [0.3, 0.1, -0.4, 0.4, 0.0, 0.3])
    x = np.array([0.5, 0.2, -0.3, 0.1, 1.0, -2.0])
    xi = np.array([1.0, -1.0, 1.0, 1.0, 0.0, 1.0])
    assert np.array_equal(orthant_project(x, xi, pen), [0.5, 0.0, 0.0, 0.1, 0.0, -2.0])


def test_bytes_formula_terms():
    # L-BFGS: gradient push + one fetch of p, 2 floats per trial
    assert bytes_per_iteration(100, 4, 2, 3, False, 4) == 8 * 100 * 2 + 8 * 4 * (4 + 24 + 4)
    # OWL-QN: one fetch per trial and the slope, 3 floats per trial
    assert bytes_per_iteration(100, 4, 2, 3, True, 4) == 8 * 100 * 3 + 8 * 4 * (7 + 24 + 4)


@pytest.fixture(scope="module")
def svm(tmp_path_factory):
    X, y, _ = make_classification(80, 200, seed=2, nnz_per_row=5)
    path = tmp_path_factory.mktemp("lb") / "t.svm"
    write_libsvm(path, X, y)
    return str(path), X.toarray(), y


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_solver_on_simulated_ranks_follows_the_reference(svm, penalty):
    path, X, y = svm
    ref = minimize(Problem(X, y, "logistic", penalty, 0.01, True), m=5, max_iter=10)

    def fn(comm):
        a = LinearLBFGS(data=path, solver="lbfgs", penalty=penalty, alpha=0.01, fit_intercept=True,
                        history=5, tol=0.0)
        a.setup(comm)
        a.initialize(comm)
        ws = []
        for it in range(1, 11):
            a.step(comm, it, Straggler(None, comm.rank))
            ws.append(np.concatenate(comm.allgather_obj(a.w_.local)))
        return ws, a.x_.plan

    for n in (1, 3):
        ws, plan = run_ranks(n, fn)[0]
        assert plan == ("sparse" if n == 3 else "dense")
        assert max(np.abs(w - r).max() for w, r in zip(ws, ref[1:])) < 1e-10


def test_settings_rules():
    with pytest.raises(ConfigError, match="squared_hinge"):
        LinearLBFGS(data="x.svm", solver="lbfgs", loss="hinge")
    with pytest.raises(ConfigError, match="--solver lbfgs"):
        LinearLBFGS(data="x.svm", loss="squared")
    with pytest.raises(ConfigError, match="batch method"):
        LinearLBFGS(data="x.svm", solver="lbfgs", consistency="ssp")
    s = LinearLBFGS(data="x.svm", solver="sgd", history=3).settings
    assert any("--history" in w for w in s.warnings())
