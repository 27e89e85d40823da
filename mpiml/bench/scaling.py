"""``mpiml bench scaling ALGO``: strong and weak scaling of a training run.

Strong scaling keeps the total data fixed and adds ranks; weak scaling keeps
the data per rank fixed. Every point is a real ``mpiml train`` job (locally
under ``mpiexec``, or with ``--hosts`` one rank per emulated host, see
``scripts/multihost``), read back from its JSON log: the median seconds per
iteration (iterations 2..N; the first loads the compiled kernels) and its
compute / communication / wait split (max over ranks). The output directory
gets ``report.md``, ``results.json`` and PNG figures (speed-up, efficiency,
time breakdown); for IBM1 also the planner's bytes per rank per iteration of
every topology at fixed data per rank up to 1,024 ranks (Wolfe, Haghighi &
Klein 2008's bandwidth figure), computed without MPI.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ALGOS = ("kmeans", "ibm1", "mf", "linear")


def register(b) -> None:
    p = b.add_parser("scaling", help="strong and weak scaling at 1, 2, 4 ranks: report.md, results.json, "
                                     "PNG plots (needs the plot extra)")
    from .hosts import MAX_HOSTS, link_rate
    p.add_argument("algorithm", choices=ALGOS)
    p.add_argument("--ranks", type=rank_list, default="1,2,4",
                   help=f"rank counts (default %(default)s; with --hosts at most {MAX_HOSTS})")
    p.add_argument("--size", type=int, default=0,
                   help="data per rank for weak scaling, and total data for strong scaling at the "
                        "largest rank count x this (rows, sentence pairs, users; default per algorithm)")
    p.add_argument("--iters", type=int, default=5, help="iterations per job (default %(default)s)")
    p.add_argument("--hosts", action="store_true",
                   help="run across emulated hosts (one rank per network namespace; root)")
    p.add_argument("--rate", type=link_rate, help="with --hosts: shape the links (e.g. 1gbit)")
    p.add_argument("--plan-ranks", type=rank_list, default="2,4,8,16,32,64,128,256,512,1024",
                   help="ibm1: simulated rank counts of the planner's bandwidth figure")
    p.add_argument("--plan-pairs", type=int, default=40,
                   help="ibm1: sentence pairs per simulated rank in the bandwidth figure (default %(default)s)")
    p.add_argument("-o", "--out", default="scaling-report", help="output directory (default %(default)s)")
    p.set_defaults(func=bench_scaling, parser=p)


def rank_list(text: str) -> list[int]:
    """argparse type: comma-separated positive rank counts."""
    import argparse

    from ..cli.plan import _rank_counts
    from ..errors import ConfigError
    try:
        return _rank_counts(text)
    except ConfigError:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,2,4, got {text!r}") from None


DEFAULT_SIZE = {"kmeans": 40_000, "ibm1": 2_000, "mf": 4_000, "linear": 8_000}


def _make_data(algo: str, n: int, tmp: Path, tag: str, vocab: int = 0) -> list:
    """Generated data of size ``n`` (rows / pairs / users); returns the train arguments.

    ``vocab``: IBM1's source vocabulary, the same for every job of a report
    (one "language"; the corpus, not the vocabulary, grows with the ranks)."""
    if algo == "kmeans":
        from ..datasets.blobs import make_blobs
        X, _, _ = make_blobs(n, 16, 16, seed=1)
        np.save(tmp / f"{tag}.npy", X)
        return ["kmeans", "--data", tmp / f"{tag}.npy", "--k", "16", "--tol", "0"]
    if algo == "ibm1":
        from ..datasets.corpus import synthetic_parallel
        sp = synthetic_parallel(n, n_words=vocab or max(n, 500), seed=1)
        sp.write_two_files(tmp / f"{tag}.e", tmp / f"{tag}.f")
        return ["ibm1", "--source", tmp / f"{tag}.e", "--target", tmp / f"{tag}.f"]
    if algo == "mf":
        from ..datasets.ratings import synthetic_ratings
        d = synthetic_ratings(n, max(n // 5, 50), rank=5, density=0.05, noise=0.5, seed=1)
        np.save(tmp / f"{tag}.npy", np.column_stack([d.users, d.items, d.values]))
        return ["mf", "--data", tmp / f"{tag}.npy", "--rank", "16", "--seed", "1"]
    from ..datasets.linear import make_classification, write_libsvm
    X, y, _ = make_classification(n, 200, seed=1, nnz_per_row=20)
    write_libsvm(tmp / f"{tag}.svm", X, y)
    return ["linear", "--data", tmp / f"{tag}.svm", "--batch", "64", "--clocks", "20"]


def _run(args, ranks: int, train_args: list, log: Path, cluster=None) -> dict:
    from .launcher import median_steady, run_mpi
    argv = ["-m", "mpiml", "train", *map(str, train_args), "--max-iter", str(args.iters),
            "--quiet", "--log", str(log)]
    if cluster is None:
        run_mpi(ranks, argv)
    else:
        res = cluster.mpiexec([sys.executable, "-m", "mpi4py", *argv], ppn=1,
                              hosts=cluster.hosts[:ranks], timeout=900)
        if res.returncode:
            raise SystemExit(f"mpiml bench scaling: job failed ({res.returncode}):\n{res.stderr[-2000:]}")
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    its = [r for r in recs if "iter" in r]
    out = {k: median_steady(its, k) for k in ("wall_s", "compute_s", "comm_s", "wait_s", "bytes")}
    out["ranks"] = ranks
    return out


def bench_scaling(args) -> int:
    from ..plot import MissingExtra
    from .hosts import MAX_HOSTS
    if args.hosts and max(args.ranks) > MAX_HOSTS:
        args.parser.error(f"--hosts runs one rank per emulated host, at most {MAX_HOSTS}: "
                          f"--ranks asks for {max(args.ranks)}")
    if args.rate and not args.hosts:
        args.parser.error("--rate shapes the links between emulated hosts: it needs --hosts")
    try:
        from .scaling_plots import check_matplotlib
        check_matplotlib()
    except MissingExtra as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ranks = args.ranks
    per = args.size or DEFAULT_SIZE[args.algorithm]
    cores = os.cpu_count() or 1
    cluster = None
    if args.hosts:
        from .hosts import Cluster, exit_on_sigterm, namespaces_permitted, remove_stale, session_prefix
        why = namespaces_permitted()
        if why:
            raise SystemExit(f"mpiml bench scaling --hosts: {why}")
        exit_on_sigterm()
        for gone in remove_stale():
            print(f"removed the emulated hosts {gone}-* left by a killed mpiml process")
        cluster = Cluster(session_prefix("scaling"), max(ranks), rate=args.rate)
    meta = {"algorithm": args.algorithm, "ranks": ranks, "size_per_rank": per, "iters": args.iters,
            "cores": cores, "where": "emulated hosts" + (f" ({args.rate} links)" if args.rate else "")
            if cluster else "one machine", "load_start": os.getloadavg()[0],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    print(f"scaling {args.algorithm}: ranks {ranks} on {meta['where']}, {cores} cores, "
          f"load average {meta['load_start']:.2f}")
    strong, weak = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            if cluster:   # inside the try: a set-up interrupted half-way is removed too
                cluster.up()
            total = per * max(ranks)
            strong_args = _make_data(args.algorithm, total, tmp, "strong", vocab=total)
            for n in ranks:
                strong.append(_run(args, n, strong_args, tmp / f"s{n}.jsonl", cluster))
                print(f"  strong {n} ranks ({total} total): {strong[-1]['wall_s']:.4f} s/iter")
            for n in ranks:
                weak_args = _make_data(args.algorithm, per * n, tmp, f"weak{n}", vocab=total)
                weak.append(_run(args, n, weak_args, tmp / f"w{n}.jsonl", cluster))
                print(f"  weak {n} ranks ({per} per rank): {weak[-1]['wall_s']:.4f} s/iter")
        finally:
            if cluster:
                cluster.down()
    for rows, kind in ((strong, "strong"), (weak, "weak")):
        base = rows[0]["wall_s"] * rows[0]["ranks"] if kind == "strong" else rows[0]["wall_s"]
        for r in rows:
            if kind == "strong":
                r["speedup"] = rows[0]["wall_s"] / r["wall_s"] * rows[0]["ranks"]
                r["efficiency"] = base / (r["wall_s"] * r["ranks"])
            else:
                r["efficiency"] = base / r["wall_s"]
    results = {"meta": meta, "strong": strong, "weak": weak}
    if args.algorithm == "ibm1":
        from .bandwidth import planner_curves
        t0 = time.perf_counter()
        results["planner"] = planner_curves(args.plan_ranks, args.plan_pairs)
        print(f"  planner bytes per rank up to {max(args.plan_ranks)} simulated ranks "
              f"({time.perf_counter() - t0:.1f} s)")
    meta["load_end"] = os.getloadavg()[0]
    (out / "results.json").write_text(json.dumps(results, indent=1))
    from .scaling_plots import draw_all
    figures = draw_all(results, out)
    (out / "report.md").write_text(report_md(results, figures))
    print(f"wrote {out / 'report.md'}, {out / 'results.json'}, " + ", ".join(str(out / f) for f in figures))
    return 0


def report_md(results: dict, figures: list[str]) -> str:
    from ..runtime.progress import human_bytes
    m = results["meta"]
    lines = [f"# Scaling of `mpiml train {m['algorithm']}`", "",
             f"Measured {m['started']} on {m['where']}: {m['cores']} cores, load average "
             f"{m['load_start']:.2f} at the start and {m['load_end']:.2f} at the end (other work shares "
             f"the machine, so times are noisy). Median seconds per iteration over iterations 2..{m['iters']} "
             "(the first loads the compiled kernels); compute / comm / wait are maxima over ranks, each "
             "taken separately, so they can add up to more than s/iter.", ""]
    over = [n for n in m["ranks"] if n > m["cores"]]
    if over:
        lines += [f"**{', '.join(map(str, over))} ranks oversubscribe the {m['cores']} cores**: there the "
                  "ranks time-slice, so speed-up and efficiency measure sharing a core, not scaling.", ""]
    for kind, what in (("strong", f"fixed total data ({m['size_per_rank'] * max(m['ranks'])})"),
                       ("weak", f"fixed data per rank ({m['size_per_rank']})")):
        lines += [f"## {kind.capitalize()} scaling, {what}", "",
                  "| ranks | s/iter | speed-up | efficiency | compute s | comm s | wait s | bytes/iter |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in results[kind]:
            sp = f"{r['speedup']:.2f}" if "speedup" in r else "-"
            lines.append(f"| {r['ranks']} | {r['wall_s']:.4f} | {sp} | {r['efficiency']:.2f} | "
                         f"{r['compute_s']:.4f} | {r['comm_s']:.4f} | {r['wait_s']:.4f} | "
                         f"{human_bytes(r['bytes'])} |")
        lines.append("")
    if "planner" in results:
        pl = results["planner"]
        lines += ["## C-step bytes per rank per iteration (planner, fixed data per rank)", "",
                  f"{pl['pairs_per_rank']} generated sentence pairs per simulated rank; bytes are the "
                  "float64 payload each rank sends per EM iteration (mean over ranks, max in brackets), "
                  "from the same planner whose figures equal what real runs measure.", "",
                  "| ranks | " + " | ".join(pl["topologies"]) + " |",
                  "|---|" + "---|" * len(pl["topologies"])]
        for i, n in enumerate(pl["ranks"]):
            cells = [f"{human_bytes(pl['mean'][t][i])} ({human_bytes(pl['max'][t][i])})"
                     for t in pl["topologies"]]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)
