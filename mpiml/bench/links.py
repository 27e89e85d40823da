"""``mpiml bench links``: mpiml over emulated cluster links.

Four emulated hosts (network namespaces on a bridge, one rank each, UCX over
TCP) with their links shaped by ``tc``: rate with ``tbf`` (or ``netem``), and
delay with ``netem`` where the kernel has it. On each link setting it times
IBM1 EM iterations for the mapreduce, allreduce, allpairs and junction-tree
topologies on a generated Zipfian corpus (Wolfe, Haghighi & Klein 2008's
comparison in miniature: which topology wins when bandwidth is scarce), and
DSGD against ALS epochs on generated ratings. Every figure comes from the
JSON logs of real ``mpiml train`` jobs. Needs root; prints figures only.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def register(b) -> None:
    from .hosts import MAX_HOSTS, host_count, link_delay, link_rates
    p = b.add_parser("links", help="IBM1 topologies and DSGD vs ALS across emulated hosts with shaped "
                                   "links (tc tbf/netem in network namespaces; root)")
    # at least 2 hosts: the link throughput is measured from host 1 to host 2
    p.add_argument("--hosts", type=host_count(2), default=4,
                   help=f"emulated hosts, one rank each, 2..{MAX_HOSTS} (default %(default)s)")
    p.add_argument("--links", type=link_rates, default="none,10gbit,1gbit,100mbit",
                   help="comma-separated link rates (bit/kbit/mbit/gbit per second), 'none' = unshaped "
                        "(default %(default)s)")
    p.add_argument("--delay", type=link_delay, default="50us",
                   help="added one-way delay per link, needs the kernel's netem; '' for none "
                        "(default %(default)s)")
    p.add_argument("--pairs", type=int, default=10000, help="IBM1 sentence pairs (default %(default)s)")
    p.add_argument("--words", type=int, default=10000, help="IBM1 Zipf vocabulary (default %(default)s)")
    p.add_argument("--iters", type=int, default=6, help="EM iterations per job (default %(default)s)")
    p.add_argument("--topologies", default="mapreduce,allreduce,allpairs,junction-tree")
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--items", type=int, default=4000)
    p.add_argument("--density", type=float, default=0.02)
    p.add_argument("--k", type=int, default=32, help="MF rank (default %(default)s)")
    p.add_argument("--epochs", type=int, default=4, help="MF epochs per job (default %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.set_defaults(func=bench_links)


def _job(cluster, args, log: Path):
    import sys
    res = cluster.mpiexec([sys.executable, "-m", "mpi4py", "-m", "mpiml", "train", *map(str, args),
                           "--quiet", "--log", log], ppn=1, timeout=900)
    if res.returncode:
        raise SystemExit(f"mpiml bench links: job failed ({res.returncode}):\n{res.stderr[-2000:]}")
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    log.unlink()
    wire = sum(tx for _, tx in res.traffic.values())
    return [r for r in recs if "iter" in r], next(r for r in recs if r.get("event") == "finish"), wire


def bench_links(args) -> int:
    from ..datasets.corpus import synthetic_parallel
    from ..datasets.ratings import synthetic_ratings
    from ..runtime.progress import human_bytes
    from .hosts import Cluster, exit_on_sigterm, namespaces_permitted, remove_stale, session_prefix
    from .launcher import median_steady
    why = namespaces_permitted()
    if why:
        raise SystemExit(f"mpiml bench links: needs network namespaces: {why}")
    exit_on_sigterm()
    for gone in remove_stale():
        print(f"removed the emulated hosts {gone}-* left by a killed mpiml process")
    rates = args.links
    topologies = [t for t in args.topologies.split(",") if t]
    print(f"emulated cluster: {args.hosts} hosts x 1 rank on {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.2f}); UCX over TCP through veth links and a bridge")
    if args.hosts > (os.cpu_count() or 1):
        print(f"note: {args.hosts} ranks oversubscribe the {os.cpu_count()} cores; compute times include "
              "time-slicing, communication times include waiting for a core")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sp = synthetic_parallel(args.pairs, n_words=args.words, seed=0)
        sp.write_two_files(tmp / "c.e", tmp / "c.f")
        data = synthetic_ratings(args.users, args.items, rank=5, density=args.density, noise=0.5, seed=0)
        np.save(tmp / "r.npy", np.column_stack([data.users, data.items, data.values]))
        n_ratings = int(data.users.size)
        del data
        print(f"IBM1: {args.pairs} Zipfian sentence pairs (vocabulary {args.words}), {args.iters} "
              f"iterations per job; MF: {n_ratings} ratings ({args.users} x {args.items}), k = {args.k}, "
              f"{args.epochs} epochs per job; medians of iterations 2..N")
        for shaped in rates:
            rate = shaped or "none"
            c = Cluster(session_prefix("links"), args.hosts, rate=shaped,
                        delay=(args.delay or None) if shaped else None)
            c.env["MPIML_MH_ALLOW_NO_DELAY"] = "1"
            with c:
                delay_ok = bool(shaped and args.delay and "NOT applied" not in c.up_message)
                link = (f"{rate}" + (f" +{args.delay}" if delay_ok else "")) if shaped else "unshaped"
                if shaped and args.delay and not delay_ok:
                    print(f"{link}: no netem in this kernel, so the {args.delay} delay is not applied "
                          "(rate only)")
                gbit = c.throughput() / 1e9
                for topo in topologies:
                    its, fin, wire = _job(c, ["ibm1", "--source", tmp / "c.e", "--target", tmp / "c.f",
                                              "--topology", topo, "--max-iter", args.iters], tmp / "l.jsonl")
                    plan = fin["plan"]
                    rows.append({"link": link, "gbit_s": gbit, "job": "ibm1", "variant": topo,
                                 "s_iter": median_steady(its, "wall_s"), "c_s": median_steady(its, "c_s"),
                                 "bytes": plan["bytes_total"], "cross_host": plan["cross_host_bytes"],
                                 "max_rank": plan["bytes_max_rank"],
                                 "rounds": plan["rounds"], "wire_bytes": wire,
                                 "load": os.getloadavg()[0]})
                for solver in ("dsgd", "als"):
                    its, fin, wire = _job(c, ["mf", "--data", tmp / "r.npy", "--solver", solver,
                                              "--rank", args.k, "--max-iter", args.epochs, "--seed", "1"],
                                          tmp / "m.jsonl")
                    rows.append({"link": link, "gbit_s": gbit, "job": "mf", "variant": solver,
                                 "s_iter": median_steady(its, "wall_s"),
                                 "c_s": median_steady(its, "comm_s") + median_steady(its, "wait_s"),
                                 "bytes": int(median_steady(its, "bytes")), "cross_host": None,
                                 "max_rank": int(median_steady(its, "bytes_max_rank")),
                                 "rounds": None, "wire_bytes": wire, "load": os.getloadavg()[0]})
            if c.leftovers():
                raise SystemExit(f"mpiml bench links: left behind {c.leftovers()}")
    print(f"\n{'link':<16} {'TCP Gbit/s':>10} {'job':<5} {'variant':<14} {'s/iter':>7} {'comm s':>7} "
          f"{'bytes/iter':>10} {'max/rank':>9} {'rounds':>6} {'load':>5}")
    for r in rows:
        rounds = r["rounds"] if r["rounds"] is not None else "-"
        print(f"{r['link']:<16} {r['gbit_s']:>10.2f} {r['job']:<5} {r['variant']:<14} {r['s_iter']:>7.3f} "
              f"{r['c_s']:>7.3f} {human_bytes(r['bytes']):>10} {human_bytes(r['max_rank']):>9} "
              f"{rounds:>6} {r['load']:>5.2f}")
    print("s/iter: median wall seconds per EM iteration / MF epoch; comm s: IBM1 C-step seconds, MF "
          "comm + wait seconds (max over ranks);\nbytes/iter: IBM1 the plan's C-step payload (allreduce: "
          "reduce-scatter + allgather model), MF all bytes handed to MPI; max/rank: the busiest rank's share, which its one link must carry "
          "(one rank per host, so every C-step byte crosses hosts);\nTCP Gbit/s: measured "
          "host 1 -> host 2 through the shaped link.")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0
