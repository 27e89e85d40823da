"""Host-aware junction trees: still junction trees (running intersection, the
C-step completes every count), never more than hosts - 1 cross-host edges,
and the per-edge byte accounting adds up."""

import numpy as np
import pytest

from mpiml.em.cstep import CStep
from mpiml.em.distplan import build_rank_plan
from mpiml.em.hosttree import (cross_host_edges, edge_bytes_from_messages, host_aware_tree,
                               host_groups, ring_edge_bytes, split_bytes)
from mpiml.em.plan import (check_running_intersection, holders_from_key_sets, intersection_matrix,
                           make_plan)
from tests.fakecomm import run_ranks
from tests.unit.em.simulate import apply_plan_messages
from tests.unit.em.test_plan import SPACE, random_key_sets


def placements(size, seed):
    """Blocked (ranks 0..k-1 on host a, ...), round-robin and random host layouts."""
    rng = np.random.default_rng(seed)
    n_hosts = int(rng.integers(1, size + 1))
    ppn = -(-size // n_hosts)
    yield [f"node{r // ppn}" for r in range(size)]
    yield [f"node{r % n_hosts}" for r in range(size)]
    yield [f"node{int(h)}" for h in rng.integers(0, n_hosts, size)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 6, 8, 12])
@pytest.mark.parametrize("seed", range(4))
def test_host_aware_tree_is_a_junction_tree_with_few_cross_host_edges(size, seed):
    key_sets = random_key_sets(size, seed=500 * seed + size, n_pairs=60)
    rng = np.random.default_rng(seed)
    local = [{int(k): float(rng.integers(1, 1000)) for k in ks} for ks in key_sets]
    glob = {}
    for d in local:
        for k, v in d.items():
            glob[k] = glob.get(k, 0.0) + v
    w = intersection_matrix(holders_from_key_sets(key_sets), size)
    for hosts in placements(size, seed):
        n_hosts = len(set(hosts))
        plan = make_plan(key_sets, "junction-tree", rank_hosts=hosts)
        edges = plan.tree.edges
        assert edges.shape == (size - 1, 2)
        work = [plan.rank_plan(r).work_keys for r in range(size)]
        assert check_running_intersection(edges, key_sets, work) == []
        assert cross_host_edges(edges, hosts) <= n_hosts - 1
        # every host's ranks form one connected piece of the tree
        for g in host_groups(hosts):
            inside = [(a, b) for a, b in edges.tolist() if a in g and b in g]
            assert len(inside) == len(g) - 1
        plain = make_plan(key_sets, "junction-tree")
        assert cross_host_edges(plain.tree.edges, hosts) >= cross_host_edges(edges, hosts)
        final = apply_plan_messages(plan, local)
        assert all(final[r][k] == glob[k] for r in range(size) for k in key_sets[r].tolist())
        eb = edge_bytes_from_messages(plan.messages)
        assert sum(n for _, _, n in eb) == plan.bytes_total
        cross, intra = split_bytes(eb, hosts)
        assert cross + intra == plan.bytes_total
        # only tree edges carry bytes, so cross-host bytes use <= n_hosts - 1 edges
        tree = {tuple(sorted(e)) for e in edges.tolist()}
        assert all(tuple(sorted((a, b))) in tree for a, b, _ in eb)
        if n_hosts == 1 or n_hosts == size:
            # one host, or one rank per host: the plain maximum spanning tree's weight
            assert sum(w[a, b] for a, b in edges.tolist()) == \
                sum(w[a, b] for a, b in plain.tree.edges.tolist())


def test_host_aware_tree_on_a_hand_made_case():
    # ranks 0, 1 on host a and 2, 3 on host b; the heaviest pairs cross hosts
    w = np.array([[0, 1, 9, 0], [1, 0, 0, 9], [9, 0, 0, 1], [0, 9, 1, 0]])
    edges = host_aware_tree(w, ["a", "a", "b", "b"])
    assert cross_host_edges(edges, ["a", "a", "b", "b"]) == 1
    assert sorted(map(tuple, edges.tolist())) == [(0, 1), (0, 2), (2, 3)]


def test_ring_model_and_split():
    eb = ring_edge_bytes(4, 100)
    assert eb == [(0, 1, 100), (1, 2, 100), (2, 3, 100), (3, 0, 100)]
    assert split_bytes(eb, ["a", "a", "b", "b"]) == (200, 200)
    assert ring_edge_bytes(1, 100) == []


@pytest.mark.parametrize("size", [2, 3, 4])
def test_distributed_host_aware_plan_equals_pure_plan(size):
    hosts = [f"n{r * 2 // size}" for r in range(size)]
    key_sets = random_key_sets(size, seed=70 + size)
    pure = make_plan(key_sets, "junction-tree", rank_hosts=hosts)
    rng = np.random.default_rng(size)
    local = [rng.integers(1, 100, ks.size).astype(float) for ks in key_sets]

    def body(comm):
        rp, info = build_rank_plan(comm, key_sets[comm.rank], "junction-tree", SPACE,
                                   rank_hosts=hosts, host_aware=True)
        cs = CStep(comm, rp, SPACE)
        out = cs.run(local[comm.rank])
        return info, out, dict(cs.sent_to)

    results = run_ranks(size, body)
    expect = edge_bytes_from_messages(pure.messages)
    for r, (info, out, sent_to) in enumerate(results):
        assert sorted(map(tuple, info.tree_edges.tolist())) == sorted(map(tuple, pure.tree.edges.tolist()))
        assert info.edge_bytes == (expect if r == 0 else None)
        assert (info.cross_host_bytes, info.intra_host_bytes) == split_bytes(expect, hosts)
        # what the C-step handed to each peer is the plan's edge figure
        assert sorted((r, q, n) for q, n in sent_to.items()) == [e for e in expect if e[0] == r]


def test_plan_cli_reports_cross_host_bytes(capsys):
    """`mpiml plan ibm1 --ranks-per-host`: every topology's cross-host bytes, and
    the host-aware row; on the bundled corpus at 8 ranks, 4 per host, the
    host-aware tree sends fewer bytes across hosts than the plain one."""
    import json
    from pathlib import Path
    from mpiml.cli import main
    data = Path(__file__).resolve().parents[3] / "data"
    assert main(["plan", "ibm1", "--ranks", "8", "--ranks-per-host", "4", "--json",
                 str(data / "corpus.e"), str(data / "corpus.f")]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["topology"], r["host_aware"]) for r in rows] == \
        [(t, False) for t in ("mapreduce", "allreduce", "allpairs", "junction-tree", "tree")] + \
        [("junction-tree", True)]
    plain, aware = rows[3], rows[5]
    assert 0 < aware["cross_host_bytes"] < plain["cross_host_bytes"] <= plain["bytes_total"]
    assert all(0 <= r["cross_host_bytes"] <= r["bytes_total"] for r in rows if r["topology"] != "allreduce")
