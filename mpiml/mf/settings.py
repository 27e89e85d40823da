"""Options of ``mpiml train mf``, declared once (see :mod:`mpiml.settings`).

Field names are the attributes the code reads (``fmt``, ``k``, ``step_rule``);
the command line and the stored configuration use the historical spellings
(``--format``/``format``, ``--rank``/``rank``, ``--step``/``step``) via
``flag=``, so checkpoints written before the settings existed still resume.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..io.ratings import FORMATS
from .data import DUPLICATES
from ..settings import Settings, option
from .common import StepSize
from .schedule import ORDERS

SOLVERS = ("dsgd", "fugue", "als")
SGD = ("dsgd", "fugue")
DTYPES = ("float32", "float64")


def blocks_value(value):
    """The type of ``--blocks-per-rank``: ``"auto"`` or an integer >= 1 (as
    text or a number); ``ValueError`` otherwise."""
    if isinstance(value, str):
        text = value.strip()
        if text == "auto":
            return "auto"
        if text.lstrip("+").isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected 'auto' or an integer >= 1, got {value!r}")
    return int(value)


# What the generated settings tests feed this type (valid, and a bad value with its message).
blocks_value.examples = ("2", "3")
blocks_value.bad_example = ("0", "expected 'auto' or an integer >= 1, got 0")


@dataclass(frozen=True)
class MFSettings(Settings):
    data: str = option(None, required=True, group="data", metavar="FILE", model=True,
                       help="ratings: 'u i r [t]' lines (space/tab/comma), MovieLens 'u::i::r::t', "
                            ".npy (n x 3|4) or .h5 ('ratings' n x 3|4, or 'users'/'items'/'ratings')")
    fmt: str = option("auto", flag="--format", choices=FORMATS, group="data", model=True,
                      help="input format (auto: by suffix, '::' means MovieLens)")
    valid: str = option(None, group="data", metavar="FILE",
                        help="validation ratings (same format); unknown ids dropped")
    valid_fraction: float = option(0.0, low=0.0, high=1.0, high_open=True, group="data", metavar="F",
                                   model=True,
                                   help="hold out this fraction of --data for validation, by a seeded "
                                        "hash of (user, item): the same split on any rank count")
    duplicates: str = option("last", choices=DUPLICATES, group="data", model=True,
                             help="repeated (user, item) ratings: keep the last/first line, their mean, "
                                  "or stop with an error naming both lines")
    solver: str = option("dsgd", choices=SOLVERS, model=True,
                         help="dsgd (stratified SGD), fugue (DSGD with extra updates while waiting "
                              "for the slowest rank) or als (blocked ALS)")
    k: int = option(16, flag="--rank", low=1, metavar="K", model=True, help="rank k of W and H")
    lam: float = option(0.05, low=0.0, model=True, help="L2 weight lambda, per rating (> 0 for als)")
    target_rmse: float = option(None, type=float, group="optimisation", metavar="RMSE",
                                help="stop as soon as the validation RMSE is at most this (needs "
                                     "--valid or --valid-fraction)")
    lr: float = option(0.01, low=0.0, low_open=True, group="optimisation", model=True,
                       only_if=("solver", SGD), help="initial SGD step size")
    step_rule: str = option("bold", flag="--step", choices=StepSize.RULES, group="optimisation",
                            model=True, only_if=("solver", SGD),
                            help="bold driver (x1.05 after the objective fell, x0.5 after it rose), "
                                 "fixed, or lr / (1 + decay * epoch)")
    decay: float = option(0.1, low=0.0, group="optimisation", model=True,
                          only_if=("step_rule", ("decay",)), help="for --step decay")
    order: str = option("WOR", choices=ORDERS, group="optimisation", model=True, only_if=("solver", SGD),
                        help="stratum order: SEQ, RSEQ (relabelled), WR (with replacement), WOR (Latin "
                             "square shuffled per epoch), COWOR (WOR over rank groups)")
    dtype: str = option("float32", choices=DTYPES, model=True,
                        help="floating type of W and H, of the SGD arithmetic and of the checkpointed "
                             "factors (ALS solves each row in float64 and stores it in this type)")
    blocks_per_rank: object = option("auto", type=blocks_value, group="optimisation", metavar="B|auto",
                                     model=True, only_if=("solver", SGD),
                                     help="cut V into (ranks*B)^2 blocks; auto: the smallest B whose "
                                          "blocks' W and H rows fit half the L2 cache (resuming keeps "
                                          "the checkpoint's B)")
    fugue_cap: float = option(1.0, low=0.0, group="optimisation", metavar="F", only_if=("solver", ("fugue",)),
                              help="fugue: at most F x (the sub-epoch's ratings) extra updates per "
                                   "sub-epoch")
    fugue_chunk: int = option(4096, low=1, group="optimisation", metavar="N", only_if=("solver", ("fugue",)),
                              help="fugue: extra updates between two checks for the slowest rank")
    fugue_fixed: float = option(None, type=float, low=0.0, group="optimisation", metavar="F", model=True,
                                only_if=("solver", ("fugue",)),
                                help="fugue, reproducible: exactly F x (block ratings) extra updates per "
                                     "block, without waiting for anyone")
    seed: int = option(0, group="runtime", model=True,
                       help="seeds the initial factors, shuffles, stratum order and validation split")

    rule_examples = (
        ({"solver": "als", "lam": 0.0}, "--lam must be >= 0 (> 0 for ALS), got 0.0"),
        ({"target_rmse": 1.0}, "--target-rmse needs validation data (--valid or --valid-fraction)"),
        ({"valid": "v.txt", "valid_fraction": 0.2}, "give --valid or --valid-fraction, not both"),
    )

    def rules(self):
        if self.solver == "als" and self.lam == 0:
            yield f"--lam must be >= 0 (> 0 for ALS), got {self.lam}"
        if self.target_rmse is not None and not (self.valid or self.valid_fraction):
            yield "--target-rmse needs validation data (--valid or --valid-fraction)"
        if self.valid and self.valid_fraction:
            yield "give --valid or --valid-fraction, not both"
