"""Regenerate the bundled sample data (deterministic).

    python data/generate.py            # writes data/blobs.csv and data/ratings.txt
"""

from pathlib import Path

import numpy as np

from mpiml.datasets.blobs import make_blobs
from mpiml.datasets.corpus import synthetic_parallel
from mpiml.datasets.ratings import synthetic_ratings

HERE = Path(__file__).resolve().parent


def blobs() -> Path:
    X, _, _ = make_blobs(2000, 4, 6, seed=2026, spread=8.0, noise=2.5)
    path = HERE / "blobs.csv"
    np.savetxt(path, X, delimiter=",", fmt="%.6f", header="x0,x1,x2,x3", comments="")
    return path


RATINGS_NOISE = 0.25


def ratings(path=None, n_users: int = 150, n_items: int = 100, density: float = 0.4,
            noise: float = RATINGS_NOISE, seed: int = 2026) -> Path:
    """Write ``u i r`` triplets (1-based ids) of a rank-3 matrix on a 1-5-like
    scale (offset 3) plus Gaussian noise of known sigma: the RMSE an exact
    model would have on held-out ratings.  Default: data/ratings.txt, 6000 lines."""
    d = synthetic_ratings(n_users, n_items, rank=3, density=density, noise=noise, offset=3.0, seed=seed,
                          min_per_user=5)
    path = Path(path) if path is not None else HERE / "ratings.txt"
    with open(path, "w") as fh:
        fh.write(f"# synthetic ratings: {d.n_users} users x {d.n_items} items, true rank 3, "
                 f"noise sigma {d.noise}, offset {d.offset}, seed {seed} (data/generate.py)\n")
        for u, i, r in zip(d.users, d.items, d.values):
            fh.write(f"{u + 1} {i + 1} {r:.4f}\n")
    return path


def corpus(n_pairs: int = 300, seed: int = 2026) -> list[Path]:
    """Write a small synthetic parallel corpus from a known lexicon (Zipfian
    vocabulary): data/corpus.e and data/corpus.f (line-parallel, for
    ``mpiml train ibm1``) and data/corpus.gold (true links, Pharaoh ``i-j``,
    for ``mpiml eval-aer``)."""
    sp = synthetic_parallel(n_pairs, n_words=80, min_len=3, max_len=12, p_spurious=0.1, seed=seed)
    paths = [HERE / "corpus.e", HERE / "corpus.f", HERE / "corpus.gold"]
    sp.write_two_files(paths[0], paths[1])
    paths[2].write_text("".join(line + "\n" for line in sp.pharaoh_lines()), encoding="utf-8")
    return paths


if __name__ == "__main__":
    print(blobs())
    print(ratings())
    print(*corpus(), sep="\n")
