"""``mpiml plan ibm1``: C-step cost of every topology for simulated ranks.

Serial (no MPI): the corpus is read once in this process, split into the
line blocks that ``--ranks`` ranks would read, and the pure planner
(:func:`mpiml.em.plan_cost.plan_cost`) counts each topology's figures (the
same as :func:`mpiml.em.plan.make_plan`'s, without listing messages, so 1,024
simulated ranks fit on one machine; with ``--ranks-per-host`` the listing
planner runs, since cross-host bytes need the messages)
(Wolfe, Haghighi & Klein, ICML 2008).
"""

from __future__ import annotations

import json
import sys
import time

from ..errors import MpimlError


# Simulated ranks per rank count: the planner keeps a few size x size int64
# matrices (intersections, tree pair counts), 128 MB each at 4,096 ranks.
MAX_RANKS = 4096

EXAMPLES = """examples:
  mpiml plan ibm1 --ranks 64,256,1024 corpus.e corpus.f
  mpiml plan ibm1 --ranks 8 --corpus corpus.txt --topology junction-tree --json
  mpiml plan ibm1 --ranks 4 --topology tree --tree-edges 0-1,0-2,0-3 corpus.e corpus.f
  mpiml plan ibm1 --ranks 16 --ranks-per-host 4 corpus.e corpus.f   # adds cross-host bytes

Bad input (a missing file, sides with different line counts, a malformed line,
bad --ranks or --tree-edges) is one error naming the file and line, exit 2."""


def register(sub) -> None:
    import argparse
    p = sub.add_parser("plan", help="bytes per iteration of each communication topology, for N "
                                    "simulated ranks (serial, no MPI)",
                       description="Plan the communication of a distributed algorithm for simulated "
                                   "rank counts, without MPI.")
    algos = p.add_subparsers(dest="plan_algorithm", metavar="ALGORITHM")
    algos.required = True
    a = algos.add_parser("ibm1", help="IBM Model 1 C-step (fully distributed EM)",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
                         description="Read the corpus once, split it into the line blocks each of "
                                     "--ranks ranks would read (as mpiml train ibm1 does), and print "
                                     "per topology the bytes sent per EM iteration (total and max per "
                                     "rank), rounds and point-to-point messages, the same figures a "
                                     "real run measures. Serial, no MPI; up to "
                                     f"{MAX_RANKS} simulated ranks.")
    a.add_argument("files", nargs="*", metavar="CORPUS",
                   help="corpus as positional paths: one 'source ||| target' file, or source and "
                        "target files (instead of --corpus/--source/--target)")
    a.add_argument("--source", metavar="FILE", help="source side, one sentence per line")
    a.add_argument("--target", metavar="FILE", help="target side, line-parallel to --source")
    a.add_argument("--corpus", metavar="FILE", help="one file of 'source ||| target' lines")
    a.add_argument("--ranks", default="2,4,8", metavar="N[,N...]",
                   help=f"simulated rank counts, 1 to {MAX_RANKS} (default %(default)s)")
    a.add_argument("--topology", action="append",
                   choices=("mapreduce", "allreduce", "allpairs", "junction-tree", "tree"),
                   help="only these topologies (repeatable; default: all)")
    a.add_argument("--tree-edges", metavar="A-B,...",
                   help="tree for the 'tree' topology, over exactly one rank count (default: a chain "
                        "0-1,1-2,...)")
    a.add_argument("--ranks-per-host", type=int, default=0, metavar="K",
                   help="place ranks K per host (ranks 0..K-1 on the first, ...): adds the bytes that "
                        "cross hosts per iteration and a host-aware junction tree row (lists every "
                        "message: for tens of ranks, not thousands)")
    a.add_argument("--no-null", dest="null", action="store_false", help="no NULL source word")
    a.add_argument("--empty", choices=("skip", "error"), default="skip",
                   help="pairs with an empty side: skip them (default) or stop naming the line")
    a.add_argument("--json", action="store_true", help="one JSON object per row")
    a.set_defaults(func=run_ibm1)


def _paths(args):
    from ..errors import ConfigError
    named = args.corpus or args.source or args.target
    if args.files:
        if named or len(args.files) > 2:
            raise ConfigError("give the corpus as one or two positional paths, or with "
                              "--corpus / --source --target, not both")
        return list(args.files)
    if args.corpus and not (args.source or args.target):
        return [args.corpus]
    if args.source and args.target and not args.corpus:
        return [args.source, args.target]
    raise ConfigError("give --corpus FILE, or --source FILE --target FILE")


def _rank_counts(text):
    from ..errors import ConfigError
    try:
        out = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        raise ConfigError(f"--ranks: expected positive integers like 2,4,8, got {text!r}")
    if max(out) > MAX_RANKS:
        raise ConfigError(f"--ranks: at most {MAX_RANKS} simulated ranks (the planner keeps "
                          f"size x size matrices), got {max(out)}")
    return out


def _check_options(args, sizes, topologies):
    """Option errors before the corpus is read (ConfigError, exit 2)."""
    from ..errors import ConfigError
    from ..em.settings import edge_list
    if args.ranks_per_host < 0:
        raise ConfigError(f"--ranks-per-host: expected K >= 1 (or 0: no hosts), got {args.ranks_per_host}")
    if args.tree_edges is None:
        return None
    try:
        edges = edge_list(args.tree_edges)
    except ValueError as exc:
        raise ConfigError(f"--tree-edges: {exc}") from None
    if "tree" not in topologies:
        raise ConfigError("--tree-edges is only used with the 'tree' topology")
    from ..em.topology import validate_tree
    for size in sizes:
        try:
            validate_tree(edges, size)
        except ConfigError as exc:
            raise ConfigError(f"--tree-edges for --ranks {size}: {exc}") from None
    return edges


def run_ibm1(args) -> int:
    try:
        return _run_ibm1(args)
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code


def _run_ibm1(args) -> int:
    from ..comm.serial import SerialComm
    from ..em.keys import KeySpace
    from ..em.settings import TOPOLOGIES
    from ..io.corpus import read_parallel
    paths = _paths(args)
    sizes = _rank_counts(args.ranks)
    topologies = list(dict.fromkeys(args.topology or TOPOLOGIES))
    user_edges = _check_options(args, sizes, topologies)
    t0 = time.perf_counter()
    corpus = read_parallel(SerialComm(), *paths, empty=args.empty)
    space = KeySpace(corpus.n_src, corpus.n_tgt)
    if not args.json:
        print(f"corpus: {corpus.n_pairs} sentence pairs ({corpus.n_empty} empty skipped), "
              f"{corpus.n_src - 1} source / {corpus.n_tgt} target words, read in "
              f"{time.perf_counter() - t0:.2f} s")
        if args.ranks_per_host:
            print(f"{'ranks':>5}  {'topology':<14} {'bytes/iter':>12} {'max/rank':>10} {'rounds':>6} "
                  f"{'messages':>8} {'stats/rank':>10} {'shared':>8} {'plan s':>7} {'peak MB':>8}"
                  f" {'x-host/iter':>12}")
        else:
            print(f"{'ranks':>5}  {'topology':<14} {'bytes/iter':>12} {'max/rank':>10} {'rounds':>6} "
                  f"{'messages':>8} {'stats/rank':>10} {'shared':>8}")
    for size in sizes:
        hosts = [f"host{r // args.ranks_per_host}" for r in range(size)] if args.ranks_per_host else None
        if hosts:      # cross-host bytes need the message lists: the listing planner
            _listed_rows(args, corpus, space, size, topologies, user_edges, hosts)
        else:
            _counted_rows(args, corpus, space, size, topologies, user_edges)
    if not args.json:
        print("bytes: float64 payload per EM iteration; allreduce is modelled as reduce-scatter + "
              "allgather over the union of all statistics"
              + ("; plan s: seconds for this row (the first row of a rank count includes building "
                 "the simulated ranks' key sets); peak MB: this process's peak RSS so far; x-host: "
                 "bytes between ranks of different hosts (allreduce: a ring r -> r+1)"
                 if args.ranks_per_host else
                 "; after each rank count: seconds for its key sets and for all its rows, and this "
                 "process's peak RSS so far"))
    return 0


def _counted_rows(args, corpus, space, size, topologies, user_edges):
    """Rows from :func:`mpiml.em.plan_scale.plan_costs` (no message lists; every
    topology from shared passes over the keys: scales to thousands of ranks)."""
    from ..em.plan_scale import plan_costs, simulated_key_sets
    from ..runtime.progress import human_bytes
    t1 = time.perf_counter()
    keys = simulated_key_sets(corpus, size, args.null)
    t_keys = time.perf_counter() - t1
    per_rank = sum(k.size for k in keys) / size
    edges = None
    if "tree" in topologies:
        edges = user_edges if user_edges is not None else [(r, r + 1) for r in range(size - 1)]
    rows = plan_costs(keys, topologies, space=space, tree_edges=edges)
    del keys
    dt = time.perf_counter() - t1
    for topo in topologies:
        s = dict(rows[topo])
        n_shared = s.pop("shared_keys")
        if args.json:
            print(json.dumps({**s, "stat_keys_per_rank": per_rank, "shared_keys": n_shared,
                              "keys_s": t_keys, "plan_s": dt, "peak_rss_mb": _peak_rss_mb()},
                             sort_keys=True), flush=True)
            continue
        name = "tree (chain)" if topo == "tree" and user_edges is None else topo
        print(f"{size:>5}  {name:<14} {human_bytes(s['bytes_total']):>12} "
              f"{human_bytes(s['bytes_max_rank']):>10} {s['rounds']:>6} {s['messages']:>8} "
              f"{per_rank:>10.0f} {n_shared:>8}")
    if not args.json:
        print(f"       ({size} ranks: key sets {t_keys:.2f} s, all rows {dt:.2f} s, "
              f"peak RSS {_peak_rss_mb():.0f} MB)", flush=True)


def _listed_rows(args, corpus, space, size, topologies, user_edges, hosts):
    """Rows from :func:`mpiml.em.plan.make_plan`, with the bytes that cross hosts."""
    from ..em.plan import make_plan
    from ..em.plan_scale import simulated_key_sets
    from ..runtime.progress import human_bytes
    keys = simulated_key_sets(corpus, size, args.null)
    per_rank = sum(k.size for k in keys) / size
    rows = [(t, False) for t in topologies]
    if "junction-tree" in topologies:
        rows.append(("junction-tree", True))
    for topo, aware in rows:
        kw = {"rank_hosts": hosts} if aware else {}
        if topo == "tree":
            kw["tree_edges"] = user_edges if user_edges is not None else \
                [(r, r + 1) for r in range(size - 1)]
        t1 = time.perf_counter()
        plan = make_plan(keys, topo, space=space, **kw)
        dt = time.perf_counter() - t1
        s = plan.summary()
        n_shared = _n_shared(keys)
        extra = {"host_aware": aware, "ranks_per_host": args.ranks_per_host,
                 "cross_host_bytes": _cross_host(plan, hosts)}
        if args.json:
            print(json.dumps({**s, **extra, "stat_keys_per_rank": per_rank, "shared_keys": n_shared,
                              "plan_s": dt, "peak_rss_mb": _peak_rss_mb()}, sort_keys=True))
            continue
        name = "tree (chain)" if topo == "tree" and user_edges is None else topo
        name = "jt host-aware" if aware else name
        print(f"{size:>5}  {name:<14} {human_bytes(s['bytes_total']):>12} "
              f"{human_bytes(s['bytes_max_rank']):>10} {s['rounds']:>6} {s['messages']:>8} "
              f"{per_rank:>10.0f} {n_shared:>8} {dt:>7.2f} {_peak_rss_mb():>8.0f} "
              f"{human_bytes(extra['cross_host_bytes']):>12}")


def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cross_host(plan, hosts) -> int:
    from ..em.hosttree import edge_bytes_from_messages, ring_edge_bytes, split_bytes
    if plan.topology == "allreduce":
        edges = ring_edge_bytes(plan.size, int(plan.sent_bytes[0]))
    else:
        edges = edge_bytes_from_messages(plan.messages)
    return split_bytes(edges, hosts)[0]


def _n_shared(keys) -> int:
    from ..em.plan import holders_from_key_sets
    return int((holders_from_key_sets(keys).counts >= 2).sum())
