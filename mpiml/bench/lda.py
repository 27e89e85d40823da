"""``mpiml bench lda``: collapsed Gibbs sampling speed and the schemes side by side.

1. Sampler speed on one core: token samples per second of mpiml's numba sweep
   (one rank, the same code path as ``train lda``) at K = 20 and 100, beside
   the `lda` package (Cython collapsed Gibbs) on the same corpus in the same
   run, when it is installed (``pip install lda``, in the bench extra).
2. Schemes: ``mpiml train lda`` jobs under ``mpiexec`` for bsp, ssp s=1/3,
   essp s=3, async and rotate at each rank count, with and without
   ``--straggler random:0.2:4``: log p(w,z) per token after the same number
   of sweeps, seconds per sweep, token samples/s per rank, and the observed
   staleness (mean / variance).

Corpus: the Reuters sample the `lda` package ships (395 documents, 4258
words, 84 010 tokens, LDA-C), else a generated one of the same size.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SCHEMES = [("bsp", []), ("ssp s=1", ["--consistency", "ssp", "--staleness", "1"]),
           ("ssp s=3", ["--consistency", "ssp", "--staleness", "3"]),
           ("essp s=3", ["--consistency", "essp", "--staleness", "3"]),
           ("async", ["--consistency", "async"]), ("rotate", ["--schedule", "rotate"])]


def register(b) -> None:
    p = b.add_parser("lda", help="LDA: sampler tokens/s vs the lda package; schemes at 2 and 4 ranks")
    p.add_argument("--ranks", default="2,4", help="rank counts (default %(default)s)")
    p.add_argument("--topics", default="20,100", help="K values of the speed test (default %(default)s)")
    p.add_argument("--sweeps", type=int, default=20, help="sweeps per job (default %(default)s)")
    p.add_argument("--speed-sweeps", type=int, default=10, help="sweeps timed in part 1 (default %(default)s)")
    p.add_argument("--scheme-topics", type=int, default=20, help="K of part 2 (default %(default)s)")
    p.add_argument("--clocks", type=int, default=4, help="clocks per sweep for the tables (default %(default)s)")
    p.add_argument("--straggler", default="random:0.2:4", help="straggler spec of part 2 (default %(default)s)")
    p.add_argument("--skip-schemes", action="store_true", help="only part 1")
    p.set_defaults(func=bench_lda)


def corpus_file(tmp: Path) -> tuple[Path, str]:
    try:
        import lda
        p = Path(lda.__file__).parent / "tests" / "reuters.ldac"
        if p.is_file():
            return p, "Reuters sample shipped by the lda package"
    except ImportError:
        pass
    from ..datasets.topics import synthetic_topics, write_ldac
    s = synthetic_topics(n_docs=395, n_words=4258, n_topics=20, doc_len=212, alpha=0.1, seed=0)
    out = tmp / "generated.ldac"
    write_ldac(out, s.docs)
    return out, "generated (395 docs, 4258 words; the lda package is not installed)"


def mpiml_speed(path, K: int, sweeps: int) -> float:
    """Token samples/s of the 1-rank sweep (compiled beforehand)."""
    from ..comm.serial import SerialComm
    from ..runtime.faults import Straggler
    from ..topics.lda import LDA
    comm = SerialComm()
    a = LDA(data=str(path), topics=K, alpha=0.1, beta=0.01, seed=0, eval_every=10 ** 9)
    a.setup(comm)
    a.initialize(comm)
    st = Straggler(None, 0)
    a.step(comm, 1, st)                      # compile / warm up
    t0 = time.perf_counter()
    for it in range(sweeps):
        a.step(comm, it + 2, st)
    dt = time.perf_counter() - t0
    return a.corpus_.n_tokens * sweeps / dt


def lda_package_speed(path, K: int, sweeps: int):
    try:
        import logging

        import lda
        import lda.utils
    except ImportError:
        return None
    logging.getLogger("lda").setLevel(logging.WARNING)
    with open(path) as f:
        X = lda.utils.ldac2dtm(f)
    n = int(X.sum())
    model = lda.LDA(n_topics=K, n_iter=sweeps, alpha=0.1, eta=0.01, random_state=0, refresh=10 ** 9)
    t0 = time.perf_counter()
    model.fit(X)
    return n * sweeps / (time.perf_counter() - t0)


def read_log(path: Path):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    its = [r for r in rows if "iter" in r and "event" not in r]
    start = next(r for r in rows if r.get("event") == "start")
    return its, start


def bench_lda(args) -> int:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        path, what = corpus_file(tmp)
        print(f"corpus: {path} ({what})")
        print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print("\n1. sampler speed on one core (token samples per second)")
        print(f"{'K':>5} {'mpiml':>12} {'lda pkg':>12} {'ratio':>7}")
        for K in (int(k) for k in args.topics.split(",")):
            ours = mpiml_speed(path, K, args.speed_sweeps)
            peer = lda_package_speed(path, K, args.speed_sweeps)
            ps = f"{peer:12,.0f}" if peer else f"{'absent':>12}"
            ratio = f"{ours / peer:7.2f}" if peer else f"{'-':>7}"
            print(f"{K:>5} {ours:12,.0f} {ps} {ratio}")
        print(f"(load average now {os.getloadavg()[0]:.2f})")
        if args.skip_schemes:
            return 0
        from ..comm.serial import SerialComm
        from ..io.bow import read_bow
        n_tok = read_bow(SerialComm(), path).n_tokens
        print(f"\n2. schemes: K = {args.scheme_topics}, {args.sweeps} sweeps, {n_tok} tokens; tables with "
              f"{args.clocks} clocks per sweep; 2 cores shared, so 4 ranks oversubscribe")
        print(f"{'ranks':>5} {'straggler':>14} {'scheme':>9} {'logp/token':>11} {'s/sweep':>8} "
              f"{'tok/s/rank':>11} {'stale mean':>10} {'stale var':>9} {'load':>5}")
        for R in (int(r) for r in args.ranks.split(",")):
            clock_tokens = max(1, -(-n_tok // (R * args.clocks)))
            for strag in ("", args.straggler):
                for name, extra in SCHEMES:
                    log = tmp / f"{R}-{name.replace(' ', '')}-{bool(strag)}.jsonl"
                    cmd = ["-m", "mpiml", "train", "lda", "--data", str(path), "--topics",
                           str(args.scheme_topics), "--max-iter", str(args.sweeps), "--quiet",
                           "--log", str(log), "--eval-every", str(args.sweeps), *extra]
                    if name != "rotate":
                        cmd += ["--clock-tokens", str(clock_tokens)]
                    if strag:
                        cmd += ["--straggler", strag]
                    from .launcher import run_mpi
                    run_mpi(R, cmd)
                    its, _ = read_log(log)
                    wall = float(np.median([r["wall_s"] for r in its[1:]] or [its[0]["wall_s"]]))
                    ll = its[-1].get("ll_token")
                    hist = {}
                    for r in its:
                        for s, c in (r.get("staleness") or {}).items():
                            hist[int(s)] = hist.get(int(s), 0) + c
                    n = sum(hist.values())
                    mean = sum(s * c for s, c in hist.items()) / n if n else 0.0
                    var = sum(c * (s - mean) ** 2 for s, c in hist.items()) / n if n else 0.0
                    print(f"{R:>5} {strag or 'none':>14} {name:>9} {ll:11.4f} {wall:8.3f} "
                          f"{n_tok / R / wall:11,.0f} {mean:10.2f} {var:9.2f} {os.getloadavg()[0]:5.1f}",
                          flush=True)
    return 0
