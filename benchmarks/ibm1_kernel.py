"""Single-rank IBM Model 1 speed, and C-step plan sizes for simulated ranks.

Prints figures only (no assertions).  The reference point: fast_align's
IBM Model 1 mode does about 28k sentence pairs per second per core on a
20k-pair corpus on these machines.

    python benchmarks/ibm1_kernel.py                    # 20k pairs, kernel speed
    python benchmarks/ibm1_kernel.py --plan 2 4 8       # + bytes per topology
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mpiml.comm.serial import SerialComm
from mpiml.datasets.corpus import synthetic_parallel
from mpiml.em import ibm1
from mpiml.em.distributed import DistributedIBM1
from mpiml.em.plan import TOPOLOGIES, make_plan
from mpiml.io.corpus import encode_pairs


def kernel_speed(corpus, n_iter: int) -> None:
    ibm1.IBM1(n_iter=1).fit(encode_pairs([["a"]], [["b"]]))      # compile / load the cache
    t0 = time.perf_counter()
    # the library's one iteration (E, C, M) on one rank: the C-step has no messages
    model = DistributedIBM1(SerialComm(), "allpairs").setup(corpus)
    params = model.params_
    t_setup = time.perf_counter() - t0
    n_tp = params.idx.size
    times = []
    for it in range(n_iter):
        rec = model.iterate()
        times.append((rec.seconds_e, rec.seconds_m))
        print(f"  iter {it + 1}: loglik {rec.loglik:.6e}  E {rec.seconds_e:.4f}s  M {rec.seconds_m:.4f}s")
    e = np.median([t[0] for t in times])
    m = np.median([t[1] for t in times])
    print(f"pairs {corpus.n_pairs}, target tokens {corpus.tgt.size}, token pairs {n_tp}, "
          f"parameters {params.n_params}")
    print(f"setup (parameter set + indices): {t_setup:.3f}s")
    print(f"median E+M per iteration: {e + m:.4f}s  ->  {corpus.n_pairs / (e + m):,.0f} "
          f"sentence pairs/s/core  ({n_tp / (e + m) / 1e6:.1f} M token pairs/s)")


def plan_table(sp, sizes) -> None:
    print(f"\nC-step per iteration (pure plan, {len(sp.src_sents)} pairs split in blocks)")
    print(f"{'ranks':>5} {'topology':>14} {'bytes total':>12} {'max/rank':>10} {'rounds':>6} "
          f"{'messages':>8} {'plan s':>7}")
    whole = encode_pairs(sp.src_sents, sp.tgt_sents)
    for size in sizes:
        keys = ibm1.simulated_stat_keys(whole, size)
        space = ibm1.KeySpace(whole.n_src, whole.n_tgt)
        for topo in TOPOLOGIES:
            kw = {"tree_edges": [(r, r + 1) for r in range(size - 1)]} if topo == "tree" else {}
            t0 = time.perf_counter()
            p = make_plan(keys, topo, space=space, **kw)
            dt = time.perf_counter() - t0
            name = "tree (chain)" if topo == "tree" else topo
            print(f"{size:>5} {name:>14} {p.bytes_total:>12,} {p.bytes_max_rank:>10,} "
                  f"{p.n_rounds:>6} {p.n_messages:>8} {dt:>7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20000)
    ap.add_argument("--words", type=int, default=20000, help="source vocabulary size")
    ap.add_argument("--min-len", type=int, default=5)
    ap.add_argument("--max-len", type=int, default=40)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plan", type=int, nargs="*", default=[],
                    help="also print plan sizes for these rank counts")
    args = ap.parse_args()
    t0 = time.perf_counter()
    sp = synthetic_parallel(args.pairs, n_words=args.words, min_len=args.min_len,
                            max_len=args.max_len, seed=args.seed)
    corpus = encode_pairs(sp.src_sents, sp.tgt_sents)
    print(f"generated + encoded corpus in {time.perf_counter() - t0:.2f}s "
          f"(Zipf vocabulary {args.words}, lengths {args.min_len}-{args.max_len})")
    kernel_speed(corpus, args.iters)
    if args.plan:
        plan_table(sp, args.plan)


if __name__ == "__main__":
    main()
