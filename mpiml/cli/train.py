"""``mpiml train ALGORITHM ...``: options shared by every algorithm, and the
MPI process boundary (agreed errors -> same exit code everywhere; anything
else -> abort the whole job, never a hang)."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from ..errors import CollectiveError, ConfigError, MpimlError

# name -> CLI adapter module (add_arguments(parser), build(args) -> Algorithm,
# HELP, optional report(summary) -> str).  Imported lazily.
ALGORITHMS = {
    "kmeans": "mpiml.cli.algo_kmeans",
    "linear": "mpiml.cli.algo_linear",
    "ibm1": "mpiml.cli.algo_ibm1",
    "mf": "mpiml.cli.algo_mf",
    "lda": "mpiml.cli.algo_lda",
}

NOT_CONFIG = {"func", "command", "algorithm", "config", "quiet", "log", "resume", "init_from",
              "watchdog_timeout", "checkpoint_dir", "checkpoint_every", "keep", "max_iter"}


def positive_int(text):
    import argparse
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {v}")
    return v


def add_common(p, skip=(), group=None) -> None:
    """The run-control options; ``skip``: config keys an algorithm's settings
    declare themselves (e.g. ``seed`` when it defines the model)."""
    g = group if group is not None else p.add_argument_group("run control (every algorithm)")
    g.add_argument("--max-iter", type=positive_int, default=100, help="iterations at most (default %(default)s)")
    if "seed" not in skip:
        g.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    g.add_argument("--checkpoint-dir", metavar="DIR", help="write HDF5 checkpoints here")
    g.add_argument("--checkpoint-every", type=positive_int, default=0, metavar="K",
                   help="checkpoint every K iterations (default: only at the end)")
    g.add_argument("--keep", type=positive_int, default=2, help="checkpoints kept (default %(default)s)")
    g.add_argument("--resume", metavar="DIR|auto",
                   help="continue an interrupted run from DIR (or from --checkpoint-dir when 'auto' "
                        "and a checkpoint exists there; a fresh start otherwise)")
    g.add_argument("--init-from", metavar="CKPT", help="start a NEW run from a checkpoint's model")
    g.add_argument("--log", metavar="FILE.jsonl", help="also write the progress records as JSON lines")
    g.add_argument("--quiet", action="store_true", help="no progress table")
    g.add_argument("--watchdog-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="abort the job if one wait lasts longer, naming the lagging ranks "
                        "(default %(default)s; 0 disables)")
    g.add_argument("--straggler", metavar="SPEC",
                   help="slow ranks down for experiments: RANK:FACTOR or random:P:FACTOR")
    g.add_argument("--config", metavar="FILE.toml",
                   help="defaults for any of these options from a TOML file (keys as option names)")


def register(sub) -> None:
    from . import Parser
    p = sub.add_parser("train", help="train a model (launch under mpiexec/srun)",
                       description="Train a model. Launch under MPI, e.g. "
                                   "mpiexec -n 4 python -m mpi4py -m mpiml train kmeans --data X.npy --k 8")
    algos = p.add_subparsers(dest="algorithm", metavar="ALGORITHM", parser_class=Parser)
    algos.required = True
    for name, modpath in ALGORITHMS.items():
        mod = importlib.import_module(modpath)
        ap = algos.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        settings_cls = getattr(mod, "SETTINGS", None)
        if settings_cls is not None:
            groups = settings_cls.add_arguments(ap)
            add_common(ap, skip=settings_cls.by_key(), group=groups.get("runtime"))
            ap.set_defaults(**settings_cls.run_defaults)
        else:
            mod.add_arguments(ap)
            add_common(ap)
        # Per-algorithm defaults for the common options (e.g. ibm1: --max-iter 5).
        ap.set_defaults(**getattr(mod, "DEFAULTS", {}))
        ap.set_defaults(func=lambda args, mod=mod: run_training(args, mod))
        TRAIN_PARSERS[name] = ap


TRAIN_PARSERS: dict = {}


def apply_config(path: str, algorithm: str) -> None:
    """Make a TOML file's keys the defaults of ``train ALGORITHM`` (the command
    line still wins).  Keys are option names (``max-iter`` or ``max_iter``);
    a table named after the algorithm may hold them.  Unknown keys are errors.
    """
    import tomllib
    ap = TRAIN_PARSERS.get(algorithm)
    if ap is None:
        return  # argparse reports the unknown algorithm
    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    table = cfg.get(algorithm, cfg)
    by_dest = {a.dest: a for a in ap._actions}
    values = {k.replace("-", "_"): v for k, v in table.items() if not isinstance(v, dict)}
    unknown = sorted(k for k in values if k not in by_dest or k in ("help", "config"))
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)} for 'train {algorithm}'")
    settings_cls = getattr(importlib.import_module(ALGORITHMS[algorithm]), "SETTINGS", None)
    if settings_cls is not None:
        # The same conversion and checks as the command line, naming the file.
        from ..settings import coerce
        for key, o in settings_cls.by_key().items():
            if key in values:
                try:
                    values[key] = coerce(o, values[key])
                except ValueError as exc:
                    raise ConfigError(f"{path}: {key}: {exc}") from None
    for dest, v in values.items():
        by_dest[dest].required = False
    ap.set_defaults(**values)


def resolved_config(args) -> dict:
    return {k: v for k, v in sorted(vars(args).items())
            if not k.startswith("_") and k not in NOT_CONFIG}


def run_training(args, mod) -> int:
    from ..runtime.faults import parse_faults
    from ..runtime.loop import RunOptions, StopFlag, host_info, train
    # Before MPI start-up and data loading: a SIGUSR1 that arrives early must
    # still mean "checkpoint and exit 75", not the default (death).
    stop = StopFlag()
    stop.install()
    rank0 = _rank0_printer()
    try:
        faults = parse_faults(os.environ.get("MPIML_FAULT"))
    except ConfigError as exc:
        rank0(f"mpiml: error: {exc}")
        return exc.exit_code
    opts = RunOptions(max_iter=args.max_iter, checkpoint_dir=args.checkpoint_dir,
                      checkpoint_every=args.checkpoint_every, keep=args.keep, resume=args.resume,
                      init_from=args.init_from, log=args.log, quiet=args.quiet, seed=args.seed,
                      straggler=args.straggler, faults=faults, config=resolved_config(args))
    from ..comm import Comm
    comm = Comm(watchdog_timeout=args.watchdog_timeout or None)
    code = 0
    try:
        info = host_info(comm)
        with comm.agree("checking options"):
            algo = _build(mod, args)
        if comm.rank == 0 and not args.quiet:
            for w in getattr(getattr(algo, "settings", None), "warnings", lambda: [])():
                sys.stderr.write(f"mpiml: warning: {w}\n")
        summary = train(algo, comm, opts, info, stop=stop)
        if comm.rank == 0 and not args.quiet:
            report = getattr(mod, "report", None)
            print(report(summary) if report else f"done: {summary}", flush=True)
    except MpimlError as exc:
        code = exc.exit_code
        if comm.rank == 0:
            sys.stderr.write(f"mpiml: error: {exc}\n")
            tb = getattr(exc, "traceback_text", "")
            if tb and (os.environ.get("MPIML_DEBUG") or isinstance(exc, CollectiveError)
                       and exc.kind not in _user_error_kinds()):
                sys.stderr.write(tb)
            sys.stderr.flush()
    except BaseException:
        # Not agreed with the other ranks: they may be waiting for us.
        # Abort the job instead of letting it hang.
        traceback.print_exc()
        sys.stderr.flush()
        comm.abort(1)
    comm.close()
    if code:
        from ..comm import finalize
        finalize()
    return code


def _build(mod, args):
    settings_cls = getattr(mod, "SETTINGS", None)
    if settings_cls is None:
        return mod.build(args)
    return mod.build(settings_cls.from_args(args))


def _user_error_kinds():
    import mpiml.errors as e
    return {n for n in dir(e) if isinstance(getattr(e, n), type) and issubclass(getattr(e, n), MpimlError)} | \
        {"InjectedFault"}


def _rank0_printer():
    from . import env_rank
    r = env_rank()

    def p(msg):
        if r == 0:
            sys.stderr.write(msg + "\n")
    return p
