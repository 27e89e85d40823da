"""Regenerate the bundled sample data (deterministic).

    python data/generate.py            # writes data/blobs.csv
"""

from pathlib import Path

import numpy as np

from mpiml.datasets.blobs import make_blobs

HERE = Path(__file__).resolve().parent


def blobs() -> Path:
    X, _, _ = make_blobs(2000, 4, 6, seed=2026, spread=8.0, noise=2.5)
    path = HERE / "blobs.csv"
    np.savetxt(path, X, delimiter=",", fmt="%.6f", header="x0,x1,x2,x3", comments="")
    return path


if __name__ == "__main__":
    print(blobs())
