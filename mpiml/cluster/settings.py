"""Options of ``mpiml train kmeans``, declared once (see :mod:`mpiml.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, option


@dataclass(frozen=True)
class KMeansSettings(Settings):
    data: str = option(None, required=True, group="data", metavar="FILE", model=True,
                       help="points: .npy, .h5/.hdf5, .csv, .tsv or .txt")
    dataset: str = option(None, group="data",
                          help="HDF5 dataset name (default: 'X' or the only 2-D dataset)")
    k: int = option(None, type=int, required=True, low=1, model=True, help="number of clusters")
    n_trials: int = option(0, low=0, help="k-means++ candidates per centre (0: 2 + ln k; "
                                           "1: classic k-means++)")
    tol: float = option(1e-4, low=0.0, group="optimisation",
                        help="stop when the squared centre shift <= tol x mean feature variance "
                             "(0: stop only when the centres stop moving)")
    seed: int = option(0, group="runtime", model=True, help="random seed of the initialisation")
