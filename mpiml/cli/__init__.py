"""Command line: ``mpiml train|inspect|predict|bench ...``.

The only package that reads ``sys.argv`` and the environment.  Training runs
under MPI (``mpiexec -n N python -m mpi4py -m mpiml train ...``); ``inspect``
and ``predict`` are serial and never initialise MPI.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__


def env_rank() -> int:
    """This process's rank from the launcher's environment, before MPI starts
    (so only rank 0 prints usage errors)."""
    for var in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return 0


class Parser(argparse.ArgumentParser):
    """argparse that prints errors on rank 0 only (all ranks exit with 2)."""

    def error(self, message):
        if env_rank() == 0:
            self.print_usage(sys.stderr)
            sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)

    def exit(self, status=0, message=None):
        if message and env_rank() == 0:
            sys.stderr.write(message)
        sys.exit(status)


def build_parser() -> Parser:
    from .. import bench
    from . import inspect_cmd, predict, train
    from . import recommend
    from . import eval_aer, plan
    from . import topics
    from . import plot
    from . import convert
    p = Parser(prog="mpiml", description="Machine learning with MPI on HPC clusters.",
               epilog="Launch training with: mpiexec -n N python -m mpi4py -m mpiml train ALGO ...")
    p.add_argument("--version", action="version", version=f"mpiml {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    train.register(sub)
    inspect_cmd.register(sub)
    predict.register(sub)
    recommend.register(sub)
    bench.register(sub)
    plan.register(sub)
    eval_aer.register(sub)
    topics.register(sub)
    plot.register(sub)
    convert.register(sub)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    cfg = _config_path(argv)
    if cfg:
        from ..errors import ConfigError
        from .train import apply_config
        try:
            apply_config(cfg, argv[argv.index("train") + 1])
        except ConfigError as exc:
            if env_rank() == 0:
                sys.stderr.write(f"mpiml: error: {exc}\n")
            return exc.exit_code
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def _config_path(argv):
    """The value of --config for ``train ALGO`` (applied before parsing, so
    the file can supply required options)."""
    if "train" not in argv or argv.index("train") + 1 >= len(argv):
        return None
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def run() -> None:  # console-script entry point
    try:
        code = main()
    except BrokenPipeError:  # e.g. `mpiml predict ... | head`
        sys.stderr.close()
        code = 0
    sys.exit(code)
