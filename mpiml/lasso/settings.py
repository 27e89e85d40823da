"""Options of ``mpiml train lasso``, declared once (see :mod:`mpiml.settings`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..sched import KINDS
from ..settings import Settings, option


def parse_alphas(text: str | None) -> list[float]:
    """``"1,0.5,0.1"`` -> [1.0, 0.5, 0.1] sorted decreasing (as scikit-learn's
    ``enet_path`` does); ValueError with a message otherwise."""
    if not text:
        return []
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        try:
            v = float(tok)
        except ValueError:
            raise ValueError(f"cannot parse {tok!r} as a number") from None
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"every alpha must be a finite number > 0, got {tok!r}")
        out.append(v)
    return sorted(out, reverse=True)


def _check_alphas(text):
    try:
        parse_alphas(text)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class LassoSettings(Settings):
    run_defaults = {"max_iter": 1000}

    data: str = option(None, required=True, group="data", metavar="FILE", model=True,
                       help="features: .npy, .h5/.hdf5 (hyperslab of columns), .csv/.tsv/.txt, "
                            "or LIBSVM text (label = target); read by column")
    labels: str = option(None, group="data", metavar="FILE", model=True,
                         help="targets of dense --data (.npy, .h5 or one per line; for .h5 data "
                              "the default is its dataset 'y')")
    dataset: str = option(None, group="data", model=True, help="HDF5 dataset of the features "
                                                               "(default 'X' or the only 2-D one)")
    labels_dataset: str = option(None, group="data", model=True,
                                 help="HDF5 dataset of the targets (default 'y')")
    fmt: str = option("auto", group="data", flag="--format", choices=("auto", "dense", "libsvm"),
                      model=True, help="input format (auto: dense by suffix, LIBSVM otherwise)")
    n_features: int = option(None, type=int, group="data", low=1, model=True, metavar="D",
                             help="number of features of LIBSVM data (default: the largest index)")
    standardize: bool = option(False, group="data", model=True,
                               help="scale every column to unit population std (StandardScaler; "
                                    "constant columns unscaled); centred too with --intercept")
    intercept: bool = option(False, group="model", model=True,
                             help="fit an intercept by centring X and y (dense data only)")
    alpha: float = option(1.0, low=0.0, low_open=True, model=True,
                          help="regularisation strength alpha")
    l1_ratio: float = option(1.0, low=0.0, low_open=True, high=1.0, model=True,
                             help="elastic-net mix: 1 = Lasso, <1 adds (1-l1_ratio)/2 ||beta||^2")
    alphas: str = option(None, model=True, metavar="A1,A2,...", check=_check_alphas,
                         help="a regularisation path: these alphas, largest first, each warm-started "
                              "from the previous solution (overrides --alpha)")
    n_alphas: int = option(0, low=0, model=True,
                           help="a path of N alphas from alpha_max = max|X^T y|/(n l1_ratio) down to "
                                "eps x alpha_max, log-spaced (scikit-learn's grid); 0: no path")
    eps: float = option(1e-3, low=0.0, low_open=True, high=1.0, model=True,
                        help="--n-alphas: smallest alpha / alpha_max")
    schedule: str = option("sap", group="optimisation", choices=KINDS, model=True,
                           help="which coordinates a round updates: sap (priority sampling + "
                                "dependency check), random (Shotgun), cyclic")
    parallel: int = option(32, group="optimisation", low=1, model=True, metavar="P",
                           help="coordinates updated together per round")
    rho: float = option(0.1, group="optimisation", low=0.0, high=1.0, model=True,
                        only_if=("schedule", ("sap",)),
                        help="sap: never update together two columns with |corr| >= rho")
    eta: float = option(1e-6, group="optimisation", low=0.0, low_open=True, model=True,
                        only_if=("schedule", ("sap",)),
                        help="sap: priority floor, P(pick j) ~ (last change of beta_j)^2 + eta")
    candidates: int = option(0, group="optimisation", low=0, model=True,
                             only_if=("schedule", ("sap",)),
                             help="sap: candidates drawn per round (0: 2 x --parallel)")
    rounds: int = option(0, group="optimisation", low=0, model=True,
                         help="rounds per iteration (table row); 0: ceil(n_features / P), "
                              "about one sweep")
    tol: float = option(1e-4, group="optimisation", low=0.0,
                        help="stop an alpha when the duality gap <= tol x ||y||^2 / n "
                             "(scikit-learn's test)")
    gap_every: int = option(1, group="optimisation", low=0,
                            help="compute the duality gap every K iterations, and whenever the "
                                 "largest change <= tol x largest |beta| (scikit-learn's trigger); "
                                 "0: only then")
    alpha_max_iter: int = option(0, group="optimisation", low=0,
                                 help="path: move to the next alpha after this many iterations "
                                      "even if not converged (0: only when converged)")
    seed: int = option(0, group="runtime", model=True, help="random seed of the schedules")

    rule_examples = (
        ({"alphas": "1,0.5", "n_alphas": 3}, "--alphas and --n-alphas are exclusive"),
    )

    def rules(self):
        if self.alphas and self.n_alphas:
            yield "--alphas and --n-alphas are exclusive"

    def alpha_list(self) -> list[float] | None:
        """The explicit path, or None (single alpha or a --n-alphas grid)."""
        return parse_alphas(self.alphas) or None
