"""Provisional options of the L-BFGS solver (until ``linear``'s options are
declared in :mod:`mpiml.linear.settings`; then these fields move there)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, option

LOSSES = ("logistic", "hinge", "squared", "squared_hinge")


@dataclass(frozen=True)
class LBFGSSettings(Settings):
    data: str = option(None, required=True, group="data", metavar="FILE", model=True,
                       help="training examples")
    labels: str = option(None, group="data", help="labels of dense --data")
    dataset: str = option(None, group="data", help="HDF5 dataset of the features")
    labels_dataset: str = option(None, group="data", help="HDF5 dataset of the labels")
    fmt: str = option("auto", flag="--format", choices=("auto", "libsvm", "dense"), group="data",
                      help="input format")
    n_features: int = option(None, type=int, low=1, group="data", help="number of features")
    valid: str = option(None, group="data", help="validation examples")
    valid_labels: str = option(None, group="data", help="labels of dense --valid")
    loss: str = option("logistic", choices=LOSSES, model=True, help="loss")
    penalty: str = option("l2", choices=("l2", "l1", "none"), model=True, help="penalty")
    alpha: float = option(1e-4, low=0.0, model=True, help="penalty weight")
    solver: str = option("lbfgs", choices=("sgd", "lbfgs"), model=True, group="optimisation",
                         help="solver")
    history: int = option(10, low=1, group="optimisation", model=True, help="L-BFGS memory m")
    tol: float = option(1e-6, low=0.0, group="optimisation",
                        help="stop when the projected-gradient norm is <= tol")
    fit_intercept: bool = option(False, model=True, help="fit an unpenalised intercept")
    exchange: str = option("auto", choices=("auto", "dense", "sparse"), group="optimisation",
                           help="gradient/weight exchange plan")
    seed: int = option(0, group="runtime", help="random seed (unused by L-BFGS)")

    def rules(self):
        if self.solver == "lbfgs" and self.loss == "hinge":
            yield "--loss hinge is not differentiable: use --loss squared_hinge with --solver lbfgs"
