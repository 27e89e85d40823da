"""Host-aware junction trees and per-edge byte accounting (pure functions).

On a cluster, bytes between two ranks of one node move through shared
memory, and bytes between nodes through the network, which is usually the
scarcer resource.  The junction tree of Wolfe, Haghighi & Klein (ICML 2008)
is a maximum spanning tree over ranks weighted by |K_i & K_j|; with ranks
placed on hosts it may use many cross-host edges.  :func:`host_aware_tree`
builds instead

* inside each host, a maximum spanning tree over that host's ranks, and
* between hosts, a maximum spanning tree over one *leader* rank per host,
  with host-to-host weight = sum of |K_i & K_j| over the rank pairs of the
  two hosts; the leader is the rank sharing most with other hosts,

so exactly ``n_hosts - 1`` tree edges cross hosts.  It is a spanning tree of
the ranks, so :func:`mpiml.em.plan.route_tree` makes it a junction tree the
same way (each key travels along its Steiner subtree: running intersection
holds for any spanning tree).  The price can be more bytes in total: a key
shared by two ranks on different hosts now detours through both leaders.

Byte accounting works on per-edge figures ``(src, dst, bytes)`` per iteration
and a host name per rank.
"""

from __future__ import annotations

import numpy as np

from .keys import VALUE_BYTES
from .plan import Messages
from .topology import spanning_tree, validate_tree


def host_groups(rank_hosts) -> list[list[int]]:
    """Ranks of each host, hosts in order of their lowest rank."""
    groups: dict[str, list[int]] = {}
    for r, h in enumerate(rank_hosts):
        groups.setdefault(str(h), []).append(r)
    return list(groups.values())


def host_aware_tree(weights: np.ndarray, rank_hosts) -> np.ndarray:
    """Spanning tree with a tree per host plus a tree over host leaders (pure).

    ``weights`` is the size x size intersection matrix (diagonal ignored);
    returns the (size - 1, 2) edge list, of which ``n_hosts - 1`` edges
    join different hosts.
    """
    w = np.asarray(weights, dtype=np.float64)
    size = w.shape[0]
    if len(rank_hosts) != size:
        raise ValueError(f"{len(rank_hosts)} host names for {size} ranks")
    groups = host_groups(rank_hosts)
    edges = []
    for g in groups:
        if len(g) > 1:
            sub = spanning_tree(w[np.ix_(g, g)])
            edges += [(g[a], g[b]) for a, b in sub.tolist()]
    if len(groups) > 1:
        leaders = []
        for g in groups:
            outside = np.setdiff1d(np.arange(size), g)
            shared = w[np.ix_(g, outside)].sum(axis=1)
            leaders.append(g[int(np.argmax(shared))])     # ties: the lowest rank
        hw = np.array([[w[np.ix_(a, b)].sum() for b in groups] for a in groups])
        top = spanning_tree(hw)
        edges += [(leaders[a], leaders[b]) for a, b in top.tolist()]
    return validate_tree(edges, size) if edges else np.empty((0, 2), np.int64)


def cross_host_edges(edges, rank_hosts) -> int:
    """How many tree edges join ranks on different hosts."""
    return sum(1 for a, b in np.asarray(edges).reshape(-1, 2).tolist() if rank_hosts[a] != rank_hosts[b])


def edge_bytes_from_messages(msgs: Messages) -> list[tuple[int, int, int]]:
    """[(src, dst, bytes)] per iteration of a point-to-point plan, sorted."""
    if len(msgs) == 0:
        return []
    pairs, counts = np.unique(np.stack([msgs.src, msgs.dst], axis=1), axis=0, return_counts=True)
    return [(int(a), int(b), int(c) * VALUE_BYTES) for (a, b), c in zip(pairs.tolist(), counts.tolist())]


def ring_edge_bytes(size: int, per_rank: int) -> list[tuple[int, int, int]]:
    """The allreduce model as edges: a ring r -> r + 1 carrying ``per_rank``
    bytes each (reduce-scatter + allgather sends 2 (p - 1) / p of the table
    to one neighbour).  MPI may choose another algorithm; this is a model."""
    if size < 2:
        return []
    return [(r, (r + 1) % size, int(per_rank)) for r in range(size)]


def split_bytes(edges, rank_hosts) -> tuple[int, int]:
    """(cross-host bytes, intra-host bytes) of ``[(src, dst, bytes)]``."""
    cross = intra = 0
    for a, b, n in edges:
        if rank_hosts[a] != rank_hosts[b]:
            cross += int(n)
        else:
            intra += int(n)
    return cross, intra
