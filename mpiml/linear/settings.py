"""Options of ``mpiml train linear``, declared once (see :mod:`mpiml.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..consistency.settings import ConsistencySettings
from ..settings import GIVEN, option

LOSSES = ("logistic", "hinge", "squared", "squared_hinge")
SGD_LOSSES = ("logistic", "hinge")
SOLVERS = ("sgd", "lbfgs")
PENALTIES = ("l2", "l1", "none")
FORMATS = ("auto", "libsvm", "dense")


@dataclass(frozen=True)
class LinearSettings(ConsistencySettings):
    data: str = option(None, required=True, group="data", metavar="FILE", model=True,
                       help="training examples: LIBSVM/SVMlight text (label idx:val ..., 1-based "
                            "indices, 0/1 or -1/+1 labels), or dense .npy/.h5/.csv/.tsv with --labels")
    labels: str = option(None, group="data", metavar="FILE",
                         help="labels of dense --data (.npy, .h5 or one per line); for .h5 data the "
                              "default is its dataset 'y'")
    dataset: str = option(None, group="data",
                          help="HDF5 dataset of the features (default: 'X' or the only 2-D dataset)")
    labels_dataset: str = option(None, group="data", help="HDF5 dataset of the labels (default 'y')")
    # Stored as "fmt" in checkpoints and TOML files written before the settings existed.
    fmt: str = option("auto", flag="--format", aliases=("fmt",), choices=FORMATS, group="data",
                      help="input format (auto: dense for .npy/.h5/.hdf5/.csv/.tsv, LIBSVM otherwise)")
    n_features: int = option(None, type=int, low=1, group="data", metavar="D",
                             help="number of features (default: the largest index in the LIBSVM "
                                  "training file)")
    valid: str = option(None, group="data", metavar="FILE", help="validation examples (same formats)")
    valid_labels: str = option(None, group="data", metavar="FILE", only_if=("valid", GIVEN),
                               help="labels of dense --valid")
    loss: str = option("logistic", choices=LOSSES, model=True,
                       help="logistic regression, linear SVM (hinge; squared_hinge: the smooth SVM), "
                            "or least squares (squared: real-valued labels; --solver lbfgs only)")
    penalty: str = option("l2", choices=PENALTIES, model=True,
                          help="alpha/2 ||w||^2 (l2), alpha ||w||_1 (l1) or none")
    alpha: float = option(1e-4, low=0.0, only_if=("penalty", ("l2", "l1")), help="penalty weight")
    fit_intercept: bool = option(False, model=True, only_if=("solver", ("lbfgs",)),
                                 help="L-BFGS: also fit an unpenalised intercept (SGD always does)")
    width: int = option(32, low=1, only_if=("solver", ("sgd",)), help="weights per table row")
    solver: str = option("sgd", choices=SOLVERS, model=True, group="optimisation",
                         help="sgd: minibatch SGD on a parameter table (any --consistency); lbfgs: "
                              "batch L-BFGS, OWL-QN for --penalty l1, with feature-sharded state (BSP)")
    history: int = option(10, low=1, model=True, group="optimisation", only_if=("solver", ("lbfgs",)),
                          help="L-BFGS memory: correction pairs kept")
    tol: float = option(1e-6, low=0.0, group="optimisation", only_if=("solver", ("lbfgs",)),
                        help="L-BFGS: stop when the 2-norm of the (projected/pseudo-)gradient is <= tol")
    exchange: str = option("auto", choices=("auto", "dense", "sparse"), group="optimisation",
                           only_if=("solver", ("lbfgs",)),
                           help="L-BFGS: how gradients reach the feature owners and weights the rows: "
                                "dense (Reduce_scatter + Allgatherv of all features), sparse (Alltoallv "
                                "of the touched features only), auto (whichever moves fewer bytes)")
    lr: float = option(0.5, low=0.0, low_open=True, group="optimisation", only_if=("solver", ("sgd",)),
                       help="step size")
    batch: int = option(64, low=1, group="optimisation", model=True, only_if=("solver", ("sgd",)),
                        help="examples per rank per clock")
    clocks: int = option(0, low=0, group="optimisation", model=True, only_if=("solver", ("sgd",)),
                         help="clocks per iteration (0: one pass over the training data)")
    eval_every: int = option(0, low=0, group="optimisation", metavar="K",
                             help="also evaluate the exact objective after every K-th clock inside an "
                                  "iteration, by non-blocking reductions, no barrier (0: once per "
                                  "iteration; not for --consistency average)")
    target_loss: float = option(None, type=float, group="optimisation", metavar="F",
                                help="stop once the training objective is <= F")
    seed: int = option(0, group="runtime", model=True,
                       help="random seed of the minibatch order")

    rule_examples = (
        ({"loss": "squared"}, "--loss squared needs --solver lbfgs (SGD trains logistic and hinge)"),
        ({"solver": "lbfgs", "loss": "hinge"},
         "--loss hinge is not differentiable: use --loss squared_hinge (the smooth SVM) with --solver lbfgs"),
        ({"solver": "lbfgs", "consistency": "ssp"},
         "--solver lbfgs is a batch method (BSP); --consistency ssp applies to --solver sgd"),
        ({"data": "x.svm", "consistency": "average", "eval_every": 4},
         "--eval-every is for bsp, ssp, essp and async (under --consistency average the replicas "
         "are only complete at averaging points)"),
    )

    def rules(self):
        if self.solver == "sgd" and self.loss not in SGD_LOSSES:
            yield f"--loss {self.loss} needs --solver lbfgs (SGD trains {' and '.join(SGD_LOSSES)})"
        if self.solver == "lbfgs" and self.loss == "hinge":
            yield ("--loss hinge is not differentiable: use --loss squared_hinge (the smooth SVM) "
                   "with --solver lbfgs")
        if self.solver == "lbfgs" and self.consistency != "bsp":
            yield (f"--solver lbfgs is a batch method (BSP); --consistency {self.consistency} "
                   f"applies to --solver sgd")
        if self.eval_every and self.consistency == "average":
            yield ("--eval-every is for bsp, ssp, essp and async (under --consistency average the "
                   "replicas are only complete at averaging points)")
