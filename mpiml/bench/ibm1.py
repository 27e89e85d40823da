"""``mpiml bench ibm1``: C-step bytes and time per iteration of every topology,
E-step throughput, and single-rank E+M speed against fast_align's figure.

Every number comes from real ``mpiexec`` jobs of ``mpiml train ibm1`` on a
generated Zipfian corpus (their ``--log`` JSON lines).  Prints figures only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

# fast_align's IBM Model 1 mode on a 20k-pair corpus on these machines (issue 3).
FAST_ALIGN_PAIRS_PER_S = 28_000


def register(b) -> None:
    p = b.add_parser("ibm1", help="IBM1: bytes and time per iteration for each C-step topology at 2/4/8 "
                                  "ranks; single-rank E+M speed vs fast_align")
    p.add_argument("--pairs", type=int, default=20000, help="sentence pairs (default %(default)s)")
    p.add_argument("--words", type=int, default=20000, help="source vocabulary (Zipf; default %(default)s)")
    p.add_argument("--min-len", type=int, default=5)
    p.add_argument("--max-len", type=int, default=40)
    p.add_argument("--iters", type=int, default=5, help="EM iterations per job (default %(default)s)")
    p.add_argument("--ranks", default="2,4,8", help="comma-separated rank counts (default %(default)s)")
    p.add_argument("--topologies", default="mapreduce,allreduce,allpairs,junction-tree,tree",
                   help="comma-separated; 'tree' is a chain 0-1-2-... (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corpus", nargs="+", metavar="FILE",
                   help="benchmark this corpus instead (a 'source ||| target' file, or source and "
                        "target files): setup per phase, s/iter and peak RSS per rank at --ranks "
                        "(default 1,2) with the junction tree, beside eflomal's IBM1 mode (-m 1)")
    p.add_argument("--estep", choices=("word-major", "indexed", "both"), default="both",
                   help="with --corpus: train's --estep (word-major, the default, or indexed, with "
                        "the token-pair index), or each rank count both ways (default)")
    p.add_argument("--dtype", choices=("float64", "float32", "both"), default="float64",
                   help="with --corpus: train's --dtype (theta and the statistics), or each job "
                        "in both types (default %(default)s)")
    p.set_defaults(func=bench_ibm1)


def _train(n, corpus_args, topology, tmp: Path, iters: int):
    from .launcher import run_mpi
    log = tmp / f"log-{n}-{topology}.jsonl"
    args = ["-m", "mpiml", "train", "ibm1", *corpus_args, "--topology", topology,
            "--max-iter", str(iters), "--quiet", "--log", str(log)]
    if topology == "tree":
        args += ["--tree-edges", ",".join(f"{r}-{r + 1}" for r in range(n - 1))]   # a chain
    t0 = time.perf_counter()
    run_mpi(n, args)
    job_s = time.perf_counter() - t0
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    its = [r for r in recs if "iter" in r]
    finish = next(r for r in recs if r.get("event") == "finish")
    start = next(r for r in recs if r.get("event") == "start")
    steady = its[1:] or its    # the first iteration also loads the numba caches
    med = {k: float(np.median([r[k] for r in steady]))
           for k in ("wall_s", "e_s", "c_s", "m_s", "cstep_bytes", "cstep_bytes_max")}
    return {"n": n, "topology": topology, "plan": finish["plan"], "pairs": finish["n_pairs"],
            "setup_s": start["setup_s"], "plan_s": finish["setup_s"], "job_s": job_s, **med}


def bench_ibm1(args) -> int:
    if args.corpus:
        from .ibm1_corpus import bench_corpus
        return bench_corpus(args)
    from ..datasets.corpus import synthetic_parallel
    from ..cli.plan import _rank_counts
    from ..runtime.progress import human_bytes
    ranks = _rank_counts(args.ranks)
    topologies = [t for t in args.topologies.split(",") if t]
    cores = os.cpu_count() or 1
    t0 = time.perf_counter()
    sp = synthetic_parallel(args.pairs, n_words=args.words, min_len=args.min_len, max_len=args.max_len,
                            seed=args.seed)
    n_tok = sum(len(t) for t in sp.tgt_sents)
    print(f"IBM1 benchmark: {args.pairs} synthetic sentence pairs (Zipf vocabulary {args.words}, lengths "
          f"{args.min_len}-{args.max_len}, {n_tok} target tokens), {args.iters} EM iterations per job, "
          f"{cores} cores; generated in {time.perf_counter() - t0:.1f} s")
    over = [n for n in ranks if n > cores]
    if over:
        print(f"note: {' and '.join(map(str, over))} ranks oversubscribe the {cores} cores: times at "
              f"{'those counts' if len(over) > 1 else 'that count'} measure time-slicing, not scaling; "
              f"bytes and rounds are unaffected")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sp.write_two_files(tmp / "c.e", tmp / "c.f")
        corpus_args = ["--source", str(tmp / "c.e"), "--target", str(tmp / "c.f")]

        one = _train(1, corpus_args, "allpairs", tmp, args.iters)
        em = one["e_s"] + one["m_s"]
        print(f"\nsingle rank: E {one['e_s']:.3f} s + M {one['m_s']:.4f} s per iteration (median of "
              f"iterations 2..{args.iters}) -> {one['pairs'] / em:,.0f} sentence pairs/s/core "
              f"({n_tok / em / 1e6:.2f} M target tokens/s)")
        peer = _fast_align(tmp, sp, args.iters)
        if peer is not None:
            print(f"fast_align (IBM1 mode, this machine): {peer:,.0f} pairs/s -> mpiml is "
                  f"{one['pairs'] / em / peer:.2f}x")
        else:
            ratio = one["pairs"] / em / FAST_ALIGN_PAIRS_PER_S
            print(f"fast_align not on PATH; its IBM1 mode does about {FAST_ALIGN_PAIRS_PER_S:,} "
                  f"pairs/s/core here (issue 3) -> mpiml is {ratio:.2f}x")

        rows = [_train(n, corpus_args, topo, tmp, args.iters) for n in ranks for topo in topologies]
    print("\nper EM iteration (medians of iterations 2..N; bytes = float64 payload of the C-step)")
    print(f"{'ranks':>5}  {'topology':<14} {'bytes':>10} {'max/rank':>10} {'measured':>10} {'rounds':>6} "
          f"{'s/iter':>7} {'E s':>6} {'C s':>6} {'M s':>6} {'E pairs/s/rank':>14} {'E pairs/s':>9} "
          f"{'setup s':>7}")
    for r in rows:
        p = r["plan"]
        name = "tree (chain)" if r["topology"] == "tree" else r["topology"]
        rate = r["pairs"] / r["n"] / r["e_s"] if r["e_s"] else float("nan")
        flag = "*" if r["topology"] == "allreduce" else " "
        print(f"{r['n']:>5}  {name:<14} {human_bytes(p['bytes_total']):>10} "
              f"{human_bytes(p['bytes_max_rank']):>10} {human_bytes(r['cstep_bytes']):>9}{flag} "
              f"{p['rounds']:>6} {r['wall_s']:>7.3f} {r['e_s']:>6.3f} {r['c_s']:>6.3f} {r['m_s']:>6.3f} "
              f"{rate:>14,.0f} {rate * r['n']:>9,.0f} {r['setup_s']:>7.2f}")
    print("bytes, max/rank, rounds: the plan (what each topology must send); measured: what the ranks "
          "handed to MPI,\nequal to the plan for point-to-point topologies. *allreduce: the plan models "
          "reduce-scatter + allgather\n(2 (p-1)/p x 8 bytes x union of all statistics per rank); measured "
          "is the whole table each rank passes to MPI_Allreduce.")
    print("E pairs/s/rank: pairs per rank / E-step seconds (slowest rank); E pairs/s: all ranks together.")
    print("setup s: reading + parameter sets + plan (max over ranks), paid once per run.")
    return 0


def _fast_align(tmp: Path, sp, iters: int):
    """Pairs/s of fast_align's IBM Model 1 mode (no -d), if it is installed."""
    exe = shutil.which("fast_align")
    if exe is None:
        return None
    sp.write_one_file(tmp / "c.txt")
    t0 = time.perf_counter()
    res = subprocess.run([exe, "-i", str(tmp / "c.txt"), "-I", str(iters)], capture_output=True,
                         timeout=900)
    if res.returncode:
        return None
    return len(sp.src_sents) * iters / (time.perf_counter() - t0)
