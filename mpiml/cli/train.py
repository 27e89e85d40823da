"""``mpiml train ALGORITHM ...``: options shared by every algorithm, and the
MPI process boundary (agreed errors -> same exit code everywhere; anything
else -> abort the whole job, never a hang)."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from ..errors import CollectiveError, ConfigError, MpimlError

# name -> CLI adapter module (SETTINGS: the algorithm's Settings class,
# build(settings) -> Algorithm, HELP, DESCRIPTION, optional
# report(summary) -> str).  Imported lazily.
ALGORITHMS = {
    "kmeans": "mpiml.cli.algo_kmeans",
    "linear": "mpiml.cli.algo_linear",
    "ibm1": "mpiml.cli.algo_ibm1",
    "mf": "mpiml.cli.algo_mf",
    "lda": "mpiml.cli.algo_lda",
    "lasso": "mpiml.cli.algo_lasso",
}


def register(sub) -> None:
    from . import Parser
    from ..runtime.settings import RunSettings
    p = sub.add_parser("train", help="train a model (launch under mpiexec/srun)",
                       description="Train a model. Launch under MPI, e.g. "
                                   "mpiexec -n 4 python -m mpi4py -m mpiml train kmeans --data X.npy --k 8")
    algos = p.add_subparsers(dest="algorithm", metavar="ALGORITHM", parser_class=Parser)
    algos.required = True
    for name, modpath in ALGORITHMS.items():
        mod = importlib.import_module(modpath)
        ap = algos.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        groups = mod.SETTINGS.add_arguments(ap)
        # The algorithm's own declaration wins (e.g. seed with model=True).
        RunSettings.add_arguments(ap, groups, skip=mod.SETTINGS.by_key())
        # Per-algorithm defaults for the run-control options (e.g. ibm1: --max-iter 5).
        ap.set_defaults(**mod.SETTINGS.run_defaults)
        ap.set_defaults(func=lambda args, mod=mod: run_training(args, mod))
        TRAIN_PARSERS[name] = ap


TRAIN_PARSERS: dict = {}


def declared(algorithm: str) -> dict:
    """``{config key: Opt}`` of every option of ``train ALGORITHM``: the
    algorithm's settings, then the run-control options it does not declare."""
    from ..runtime.settings import RunSettings
    algo = importlib.import_module(ALGORITHMS[algorithm]).SETTINGS.by_key()
    return {**{k: o for k, o in RunSettings.by_key().items() if k not in algo}, **algo}


def apply_config(path: str, algorithm: str) -> None:
    """Make a TOML file's keys the defaults of ``train ALGORITHM`` (the command
    line still wins).  Keys are option names (``max-iter`` or ``max_iter``);
    a table named after the algorithm may hold them.  Unknown keys and bad
    values are errors naming the file, with the command line's messages.
    """
    import tomllib
    from ..settings import coerce
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
    if isinstance(table, dict) and table is not cfg:
        # Keys beside the [ALGORITHM] table would otherwise be dropped unread.
        outside = sorted(k for k, v in cfg.items() if not isinstance(v, dict))
        if outside:
            raise ConfigError(f"{path}: key(s) {', '.join(outside)} outside the [{algorithm}] table; "
                              "move them into it")
    elif not isinstance(table, dict):
        raise ConfigError(f"{path}: {algorithm} must be a table ([{algorithm}])")
    # Tables of other algorithms (one file for several) are skipped; any other
    # table is a misspelt algorithm or option and is reported as unknown.
    stray = sorted(k for k, v in table.items() if isinstance(v, dict) and k not in ALGORITHMS)
    if stray:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(stray)} for 'train {algorithm}'")
    settings_cls = importlib.import_module(ALGORITHMS[algorithm]).SETTINGS
    values = {k.replace("-", "_"): v for k, v in table.items() if not isinstance(v, dict)}
    values = settings_cls.canonical(values, path)   # older keys, e.g. fmt -> format
    known = {k: o for k, o in declared(algorithm).items() if o.spec.toml}
    unknown = sorted(k for k in values if k not in known)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)} for 'train {algorithm}'")
    for key in values:
        try:
            values[key] = coerce(known[key], values[key])
        except ValueError as exc:
            raise ConfigError(f"{path}: {key}: {exc}") from None
    ap.set_defaults(**values, _config_file=path)


def settings_from_args(args, mod):
    """``(algorithm settings, run settings, resolved config)`` from parsed
    arguments; :class:`ConfigError` names the sources (command line and the
    config file, if any)."""
    from ..runtime.settings import RunSettings
    cfg = getattr(args, "_config_file", None)
    source = "command line" + (f" and {cfg}" if cfg else "")
    algo = mod.SETTINGS.from_args(args, source)
    run = RunSettings.from_args(args, source)
    return algo, run, {**run.to_config(), **algo.to_config()}


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
        # Every rank parses the same arguments, so every rank fails alike here.
        settings, run, config = settings_from_args(args, mod)
    except ConfigError as exc:
        rank0(f"mpiml: error: {exc}")
        return exc.exit_code
    seed = getattr(settings, "seed", run.seed)
    opts = RunOptions(max_iter=run.max_iter, checkpoint_dir=run.checkpoint_dir,
                      checkpoint_every=run.checkpoint_every, keep=run.keep, resume=run.resume,
                      init_from=run.init_from, log=run.log, quiet=run.quiet, seed=seed,
                      straggler=run.straggler, faults=faults, config=config,
                      allow_changed_data=run.allow_changed_data, job_id=_job_id())
    from ..comm import Comm
    comm = Comm(watchdog_timeout=run.watchdog_timeout or None)
    _note_abrupt_exit(comm.rank)
    code = 0
    try:
        info = host_info(comm)
        with comm.agree("checking options"):
            algo = mod.build(settings)
        if comm.rank == 0 and not run.quiet:
            for w in settings.warnings():
                sys.stderr.write(f"mpiml: warning: {w}\n")
        summary = train(algo, comm, opts, info, stop=stop)
        if comm.rank == 0 and not run.quiet:
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


def _note_abrupt_exit(rank: int) -> None:
    """Make ``os._exit`` from Python code on this rank (a library, a fault
    injection) print one line naming the rank and where it was: neither
    atexit nor exception handlers run then, and the launcher kills the other
    ranks without a word.  A C-level ``_exit`` cannot be noticed this way."""
    import socket
    from ..runtime import loop
    real, pid, host = os._exit, os.getpid(), socket.gethostname()

    def noted_exit(status):
        if os.getpid() == pid and status != 0:      # not a forked child's normal exit
            try:
                os.write(2, f"mpiml: error: rank {rank} (PID {pid} on {host}) ended abruptly with "
                            f"os._exit({status}) {loop.WHERE['what']}; it could not report an error, "
                            f"the job stops without a checkpoint of this iteration\n".encode())
            except OSError:
                pass
        real(status)
    os._exit = noted_exit


def _job_id():
    for var in ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID"):
        if os.environ.get(var):
            return os.environ[var]
    return None


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
