"""``mpiml bench mf --rmse-table``: test RMSE against epochs for DSGD, Fugue
and ALS with default options (only k and lambda given), beside LIBMF with the
same k and lambda, on a generated low-rank + noise set and on a real rating
set when one is available (prints figures, asserts nothing).

LIBMF runs through its PyPI bindings (``pip install libmf``) in a child
process: their ``mf_train_test`` prints LIBMF's own ``iter tr_rmse va_rmse``
table on the C stdout, which is read back.  The real set is MovieLens-100k
as the ``recbole`` wheel bundles it (``pip install --no-deps recbole``: the
data file only, nothing is imported from it) or any ``--ratings FILE`` of
``user item rating`` lines (a non-numeric header line is skipped).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# Rows of the table: (label, solver, extra options).  The first three are the
# defaults; the others show what the defaults replaced (--step bold, the
# default before), the eta0 choice and --bias.
ROWS = (("dsgd", "dsgd", []), ("fugue", "fugue", []), ("als", "als", []),
        ("dsgd --step bold", "dsgd", ["--step", "bold"]),
        ("fugue --step bold", "fugue", ["--step", "bold"]),
        ("dsgd --eta0 0.05", "dsgd", ["--eta0", "0.05"]),
        ("dsgd --eta0 0.1", "dsgd", ["--eta0", "0.1"]),
        ("dsgd --eta0 0.2", "dsgd", ["--eta0", "0.2"]),
        ("dsgd --eta0 0.3", "dsgd", ["--eta0", "0.3"]),
        ("fugue --eta0 0.1", "fugue", ["--eta0", "0.1"]),
        ("fugue --eta0 0.2", "fugue", ["--eta0", "0.2"]),
        ("dsgd --bias", "dsgd", ["--bias"]))

_LIBMF = r"""
import sys, numpy as np
from libmf import mf
tr, te = np.load(sys.argv[1]), np.load(sys.argv[2])
m = mf.MF(k=int(sys.argv[3]), nr_iters=int(sys.argv[4]), lambda_p1=0.0, lambda_q1=0.0,
          lambda_p2=float(sys.argv[5]), lambda_q2=float(sys.argv[5]), nr_threads=1, quiet=False)
m.mf_train_test(tr, te)
"""


def add_arguments(p) -> None:
    p.add_argument("--rmse-table", action="store_true",
                   help="only print the test-RMSE-vs-epoch table (defaults vs LIBMF)")
    p.add_argument("--rmse-epochs", default="1,2,5,10,20", help="epochs to show (default %(default)s)")
    p.add_argument("--rmse-ranks", type=int, default=2, help="ranks of the mpiml runs (default %(default)s)")
    p.add_argument("--ratings", default="auto",
                   help="real ratings 'user item rating' (auto: MovieLens-100k of an installed recbole "
                        "wheel; none: skip)")
    p.add_argument("--rmse-rows", default="all",
                   help="comma-separated row labels of the table, or all (default %(default)s)")
    p.add_argument("--rmse-sets", default="generated,real,sample",
                   help="data sets: generated (low rank + noise), real (--ratings), sample (the bundled "
                        "data/ratings.txt, 150 x 100) (default %(default)s)")


def find_real(spec: str):
    """Path of the real rating file, or ``None`` (with the reason)."""
    if spec == "none":
        return None, "--ratings none"
    if spec != "auto":
        return Path(spec), None
    found = importlib.util.find_spec("recbole")     # locates the package without importing it
    if found is not None and found.submodule_search_locations:
        p = Path(list(found.submodule_search_locations)[0]) / "dataset_example" / "ml-100k" / "ml-100k.inter"
        if p.exists():
            return p, None
    return None, "no real rating data (pip install --no-deps recbole bundles MovieLens-100k; or --ratings FILE)"


def load_ratings(path: Path) -> np.ndarray:
    """``(n, 3)`` float64 ``user item rating`` from whitespace-separated lines."""
    with open(path) as fh:
        first = fh.readline().split()
        try:
            [float(x) for x in first[:3]]
            skip = 0
        except ValueError:
            skip = 1
    a = np.loadtxt(path, skiprows=skip, usecols=(0, 1, 2), ndmin=2)
    return a


def split(a: np.ndarray, frac: float = 0.1, seed: int = 0):
    """Dense ids, a seeded random test fraction, test ratings of unseen users/items dropped."""
    u = np.unique(a[:, 0], return_inverse=True)[1]
    i = np.unique(a[:, 1], return_inverse=True)[1]
    d = np.column_stack([u, i, a[:, 2]]).astype(np.float64)
    te = np.random.default_rng(seed).random(len(d)) < frac
    tr, ts = d[~te], d[te]
    known = np.isin(ts[:, 0], tr[:, 0]) & np.isin(ts[:, 1], tr[:, 1])
    return tr, ts[known]


def libmf_curve(tr: Path, te: Path, k: int, lam: float, epochs: int):
    """LIBMF's test RMSE after each epoch, or ``None`` if the bindings are missing."""
    if importlib.util.find_spec("libmf") is None:
        return None
    res = subprocess.run([sys.executable, "-c", _LIBMF, str(tr), str(te), str(k), str(epochs), str(lam)],
                         capture_output=True, text=True, timeout=1800)
    rows = [ln.split() for ln in res.stdout.splitlines()]
    curve = [float(r[2]) for r in rows if len(r) == 4 and r[0].isdigit()]
    if res.returncode or len(curve) != epochs:
        raise SystemExit(f"mpiml bench: LIBMF run failed ({res.returncode}):\n{res.stdout[-1000:]}"
                         f"{res.stderr[-1000:]}")
    return curve


def mpiml_curve(tr: Path, te: Path, solver: str, extra: list, k: int, lam: float, epochs: int,
                ranks: int, tmp: Path):
    from .launcher import run_mpi
    log = tmp / f"{solver}-{abs(hash(tuple(extra)))}.jsonl"
    run_mpi(ranks, ["-m", "mpiml", "train", "mf", "--data", str(tr), "--valid", str(te), "--solver", solver,
                    "--rank", str(k), "--lam", str(lam), "--max-iter", str(epochs), "--quiet",
                    "--log", str(log), *extra])
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    return [r["valid_rmse"] for r in recs if "iter" in r]


def table(name: str, data: np.ndarray, k: int, lam: float, shown: list, ranks: int, rows) -> None:
    tr, te = split(data)
    epochs = max(shown)
    print(f"\n{name}: {len(tr)} training / {len(te)} test ratings (10 % seeded split), k = {k}, "
          f"lambda = {lam}; mpiml on {ranks} ranks with default options otherwise "
          f"(load average {os.getloadavg()[0]:.1f})")
    head = f"{'':>20}" + "".join(f"{e:>8}" for e in shown) + f"{'vs LIBMF @' + str(epochs):>14}"
    print(head)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ptr, pte = d / "train.npy", d / "test.npy"
        np.save(ptr, tr)
        np.save(pte, te)
        ref = libmf_curve(ptr, pte, k, lam, epochs)
        if ref is None:
            print(f"{'LIBMF':>20}  skipped: the libmf bindings are not installed (pip install libmf)")
        else:
            print(f"{'LIBMF (1 thread)':>20}" + "".join(f"{ref[e - 1]:>8.4f}" for e in shown))
        for label, solver, extra in rows:
            curve = mpiml_curve(ptr, pte, solver, extra, k, lam, epochs, ranks, d)
            ratio = "" if ref is None else f"{curve[-1] / ref[-1] - 1:+.2%}"
            ok = "" if ref is None else ("  ok" if curve[-1] <= 1.01 * ref[-1] else "  >1%")
            print(f"{label:>20}" + "".join(f"{curve[e - 1]:>8.4f}" for e in shown) + f"{ratio:>10}{ok}",
                  flush=True)


def rmse_table(args) -> None:
    from ..datasets.ratings import synthetic_ratings
    shown = sorted({int(e) for e in args.rmse_epochs.split(",")})
    rows = ROWS if args.rmse_rows == "all" else [r for r in ROWS if r[0] in args.rmse_rows.split(",")]
    print("Test RMSE after each epoch; last column: (mpiml - LIBMF) / LIBMF at the last epoch, 'ok' within "
          "1 %. LIBMF: its defaults (eta 0.1, its adaptive rule) with L2 lambda = the same lambda, L1 off.")
    sets = args.rmse_sets.split(",")
    if "generated" in sets:
        syn = synthetic_ratings(3000, 1500, rank=5, density=0.03, noise=0.5, offset=3.0, seed=1, min_per_user=5)
        table(f"generated: {syn.users.size} ratings of a rank-5 matrix (offset 3) + noise sigma 0.5",
              np.column_stack([syn.users, syn.items, syn.values]), 16, 0.05, shown, args.rmse_ranks, rows)
    if "real" in sets:
        path, why = find_real(args.ratings)
        if path is None:
            print(f"\nreal ratings: skipped: {why}")
        else:
            table(f"real: {path.name}", load_ratings(path), 32, 0.1, shown, args.rmse_ranks, rows)
    sample = Path(__file__).resolve().parents[2] / "data" / "ratings.txt"
    if "sample" in sets and sample.exists():
        table("sample: data/ratings.txt (rank 3 + noise sigma 0.25, the README's example)",
              load_ratings(sample), 4, 0.01, shown, args.rmse_ranks, rows)
