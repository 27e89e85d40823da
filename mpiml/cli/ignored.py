"""Warnings for options that the chosen solver or consistency model ignores
(a value other than the default that would otherwise silently do nothing)."""

from __future__ import annotations

import sys


def warn_ignored(args, dests, why: str) -> list[str]:
    """Warn (rank 0) about each of ``dests`` given a non-default value;
    returns the option names warned about."""
    from . import env_rank
    from .train import TRAIN_PARSERS
    ap = TRAIN_PARSERS.get(getattr(args, "algorithm", None))
    if ap is None:
        return []
    given = [d for d in dests if getattr(args, d, None) != ap.get_default(d)]
    names = ["--" + d.replace("_", "-") for d in given]
    if env_rank() == 0:
        for n in names:
            sys.stderr.write(f"mpiml: warning: {n} is ignored with {why}\n")
    return names
