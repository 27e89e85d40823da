"""``mpiml bench readers``: parse speed of the text readers per rank, the
compiled fast path against the exact line-by-line path, and the .npy/.h5
fast path, on generated files (real mpiexec jobs at each rank count).

Files (about ``--mb`` MB each): ratings as tab-separated triplets with
timestamps and as MovieLens ``::``, a dense CSV written with 6 decimals and
one written by ``numpy.savetxt``'s default ``%.18e`` (19 significant digits,
beyond the compiled parser's exact range, so every number goes to the
correctly rounded fallback), LIBSVM, and a parallel corpus; then the ratings
and the dense matrix converted to .h5/.npy.

Figures are MB/s per rank: this rank's share of the file (bytes / ranks)
over the slowest rank's seconds, best of ``--reps``.  ``wall`` is elapsed
time; ``cpu`` is the process's CPU time, which is less disturbed by other
jobs on a shared machine.  The first call of the compiled parsers in a
process loads them from numba's cache; that one-off time is printed apart.

    mpiml bench readers [--mb 64] [--ranks 1,2] [--reps 2] [--dir DIR]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .launcher import run_mpi

READERS = ("ratings-tsv", "ratings-movielens", "dense-6f", "dense-18e", "libsvm", "corpus",
           "corpus-ef", "ratings-h5", "dense-npy")


def register(b) -> None:
    p = b.add_parser("readers", help="MB/s per rank of the ratings, dense, LIBSVM and corpus readers")
    p.add_argument("--mb", type=float, default=64.0, help="size of each generated file in MB (default %(default)s)")
    p.add_argument("--ranks", default="1,2", help="comma-separated rank counts (default %(default)s)")
    p.add_argument("--reps", type=int, default=2, help="repeats, best taken (default %(default)s)")
    p.add_argument("--dir", help="where to generate the files (default: a temporary directory here)")
    p.add_argument("--only", help="comma-separated readers to run (default: all of " + ",".join(READERS) + ")")
    p.set_defaults(func=bench_readers)


def generate(d: Path, mb: float, seed: int = 0, only=None) -> dict:
    """Write the benchmark files into ``d``; returns name -> path (a pair of
    paths for the two-file corpus).  With ``only`` a subset of the corpus
    readers, only the corpus files are written."""
    corpus = _corpus_files(d, mb, np.random.default_rng(seed + 1))
    if only is not None and set(only) <= set(corpus):
        return corpus
    rng = np.random.default_rng(seed)
    n = int(mb * 1e6 / 26)                       # a ratings line is ~26 bytes
    u, i = rng.integers(1, 100_000, n), rng.integers(1, 30_000, n)
    v, ts = rng.integers(2, 11, n) / 2, rng.integers(900_000_000, 1_600_000_000, n)
    out = {"ratings-tsv": d / "ratings.tsv", "ratings-movielens": d / "ratings.dat"}
    for name, sep in (("ratings-tsv", "\t"), ("ratings-movielens", "::")):
        with open(out[name], "w") as f:
            f.write("".join(f"{a}{sep}{b}{sep}{c:g}{sep}{t}\n" for a, b, c, t in zip(u, i, v, ts)))
    X = rng.standard_normal((int(mb * 1e6 / (20 * 10)), 20))
    out["dense-6f"] = d / "X6.csv"
    np.savetxt(out["dense-6f"], X, delimiter=",", fmt="%.6f")
    out["dense-18e"] = d / "X18.csv"
    np.savetxt(out["dense-18e"], X[: int(mb * 1e6 / (20 * 26))], delimiter=",")
    out["libsvm"] = d / "data.svm"
    n_rows = int(mb * 1e6 / 200)
    idx = np.cumsum(rng.integers(1, 250, (n_rows, 20)), axis=1)     # increasing, at most 5000
    vals = rng.random((n_rows, 20))
    with open(out["libsvm"], "w") as f:
        f.write("".join(("1" if k % 2 else "-1") + "".join(f" {j}:{x:.6g}" for j, x in zip(ji, xi)) + "\n"
                        for k, (ji, xi) in enumerate(zip(idx.tolist(), vals.tolist()))))
    out.update(corpus)
    from ..comm.serial import SerialComm
    from ..io.convert import convert_dense, convert_ratings
    out["ratings-h5"] = d / "ratings.h5"
    convert_ratings(SerialComm(), out["ratings-tsv"], out["ratings-h5"])
    out["dense-npy"] = d / "X6.npy"
    convert_dense(SerialComm(), out["dense-6f"], out["dense-npy"])
    return out


def _words(rng, n: int, letters: str) -> np.ndarray:
    """``n`` distinct made-up words of 1-16 letters (mean ~6, as in European
    text), a few of them longer than the tokeniser's 7-byte packed keys."""
    lens = np.clip(rng.poisson(5.5, 2 * n) + 1, 1, 16)
    alpha = np.array(list(letters))
    words = dict.fromkeys("".join(alpha[rng.integers(0, alpha.size, m)]) for m in lens)
    return np.array(list(words)[:n])


def _corpus_files(d: Path, mb: float, rng) -> dict:
    """A sentence-aligned pair of ~``mb`` MB per side, as IBM1 training reads it
    (``corpus.e`` / ``corpus.f``), and the same pairs as ``source ||| target``
    lines: Zipf-distributed words, sentence lengths 1-40 (target ~ source),
    a few empty lines (pairs the reader skips) and CRLF line ends on some."""
    src_words = _words(rng, 50_000, "abcdefghijklmnopqrstuvwxyz")
    tgt_words = _words(rng, 60_000, "abcdefghijklmnopqrstuvwxyz\u00e9\u00e8\u00e0\u00fc")
    n_lines = int(mb * 1e6 / 300)                 # ~150 bytes a side per line
    ls = rng.integers(1, 41, n_lines)
    ls[rng.random(n_lines) < 0.001] = 0
    lt = np.maximum(0, ls + rng.integers(-3, 4, n_lines))
    src = src_words[np.minimum(rng.zipf(1.2, int(ls.sum())), src_words.size) - 1]
    tgt = tgt_words[np.minimum(rng.zipf(1.2, int(lt.sum())), tgt_words.size) - 1]
    crlf = rng.random(n_lines) < 0.05
    out = {"corpus": (d / "corpus.e", d / "corpus.f"), "corpus-ef": d / "corpus.ef"}
    with open(out["corpus"][0], "w", encoding="utf-8") as fe, \
            open(out["corpus"][1], "w", encoding="utf-8") as ff, \
            open(out["corpus-ef"], "w", encoding="utf-8") as fef:
        a = b = 0
        for m, n, cr in zip(ls.tolist(), lt.tolist(), crlf.tolist()):
            e, f = " ".join(src[a:a + m]), " ".join(tgt[b:b + n])
            end = "\r\n" if cr else "\n"
            fe.write(e + end)
            ff.write(f + end)
            fef.write(f"{e} ||| {f}{end}")
            a, b = a + m, b + n
    return out


def _read(comm, name: str, path):
    if name.startswith("ratings"):
        from ..io.ratings import read_raw_ratings
        return read_raw_ratings(comm, path)
    if name.startswith("dense"):
        from ..io.dense import read_dense
        return read_dense(comm, path)
    if name == "libsvm":
        from ..io.libsvm import read_libsvm
        return read_libsvm(comm, path)
    from ..io.corpus import read_parallel    # as IBM1 training calls it
    return read_parallel(comm, *path) if name == "corpus" else read_parallel(comm, path)


def _worker(files_json: str, reps: int) -> None:
    """One MPI job: time every reader, fast and exact paths; rank 0 prints JSON."""
    from ..comm import Comm
    from ..io import lines
    files = json.loads(Path(files_json).read_text())
    comm = Comm()
    t0 = time.perf_counter()
    from ..io import kernels as tokenizer
    from ..io.textparse import kernels
    w = np.frombuffer(b"1 2 3\n", np.uint8)
    kernels.parse_ratings(w, 44, False), kernels.parse_dense(w, False, False), kernels.parse_libsvm(w, -1)
    tokenizer.warm()
    load_s = comm.allreduce_scalar(time.perf_counter() - t0, "max")
    res = {"load_s": load_s, "readers": {}}
    for name, path in files.items():
        size = sum(map(os.path.getsize, path)) if name == "corpus" else os.path.getsize(path)
        paths = ("fast", "exact") if name not in ("ratings-h5", "dense-npy", "corpus", "corpus-ef") else ("fast",)
        for mode in paths:
            lines.FAST_MIN_BYTES = 1 << 20 if mode == "fast" else 1 << 62
            best = {"wall": float("inf"), "cpu": float("inf")}
            for _ in range(reps):
                comm.barrier()
                w0, c0 = time.perf_counter(), time.process_time()
                _read(comm, name, path)
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                best["wall"] = min(best["wall"], comm.allreduce_scalar(wall, "max"))
                best["cpu"] = min(best["cpu"], comm.allreduce_scalar(cpu, "max"))
            res["readers"][f"{name}/{mode}"] = {"bytes": size, **best}
    res["load_avg"] = os.getloadavg()[0]
    if comm.rank == 0:
        print(json.dumps(res))
    comm.close()


def bench_readers(args) -> int:
    ranks = [int(r) for r in args.ranks.split(",")]
    base = Path(args.dir) if args.dir else Path.cwd()
    tmp = Path(tempfile.mkdtemp(prefix=".bench-readers-", dir=base))
    try:
        t0 = time.perf_counter()
        only = set(args.only.split(",")) if args.only else set(READERS)
        if only - set(READERS):
            print(f"mpiml bench readers: unknown reader(s) {sorted(only - set(READERS))}", file=sys.stderr)
            return 2
        files = generate(tmp, args.mb, only=only)
        spec = tmp / "files.json"
        spec.write_text(json.dumps({k: (list(map(str, v)) if isinstance(v, tuple) else str(v))
                                    for k, v in files.items() if k in only}))
        print(f"readers benchmark: files of ~{args.mb:g} MB generated in {time.perf_counter() - t0:.0f} s, best of "
              f"{args.reps}, {os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}")
        print("MB/s per rank = (file MB / ranks) / slowest rank's seconds; 'exact' = the line-by-line path "
              "(the fallback, and the reader before the compiled parsers)")
        print(f"{'ranks':>5s} {'reader':<18s} {'MB':>6s} {'path':<6s} {'wall s':>7s} {'MB/s wall':>9s} "
              f"{'cpu s':>7s} {'MB/s cpu':>9s} {'speed-up':>8s}")
        for r in ranks:
            res = run_mpi(r, ["-m", "mpiml.bench.readers", str(spec), str(args.reps)], timeout=3600)
            out = json.loads(res.stdout.strip().splitlines()[-1])
            for key, m in out["readers"].items():
                name, mode = key.split("/")
                mb = m["bytes"] / 1e6
                ratio = ""
                if mode == "exact":
                    ratio = f"{m['cpu'] / out['readers'][f'{name}/fast']['cpu']:>7.1f}x"
                print(f"{r:>5d} {name:<18s} {mb:>6.1f} {mode:<6s} {m['wall']:>7.2f} {mb / r / m['wall']:>9.1f} "
                      f"{m['cpu']:>7.2f} {mb / r / m['cpu']:>9.1f} {ratio:>8s}")
            print(f"{r:>5d} loading the compiled parsers (once per process): {out['load_s']:.2f} s; "
                  f"load average after {out['load_avg']:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]))
