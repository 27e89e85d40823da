"""The training loop shared by every algorithm.

Iterations, error agreement, the progress table, checkpoint cadence, resume,
signals (checkpoint and exit 75 on SIGUSR1/SIGTERM), fault and straggler
injection.
"""

from __future__ import annotations

import math
import platform
import signal
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConfigError, NumericalError, PreemptedError
from ..io import checkpoint as ckpt_write
from ..io.ckpt_read import load as ckpt_load
from .faults import FaultPlan, Straggler
from .progress import Progress, banner


@dataclass
class RunOptions:
    max_iter: int = 100
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0          # 0: only at the end
    keep: int = 2
    resume: str | None = None          # "auto" or a path
    init_from: str | None = None
    log: str | None = None
    quiet: bool = False
    seed: int = 0
    straggler: str | None = None
    faults: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        # Validated by the declaration of the run-control options (the same
        # checks and messages as the command line).
        from .settings import RunSettings
        RunSettings(max_iter=self.max_iter, seed=self.seed, checkpoint_dir=self.checkpoint_dir,
                    checkpoint_every=self.checkpoint_every, keep=self.keep, resume=self.resume,
                    init_from=self.init_from, log=self.log, quiet=self.quiet, straggler=self.straggler)


class StopFlag:
    """Set by SIGUSR1/SIGTERM; ranks agree on it at iteration boundaries."""

    def __init__(self):
        self.flag = False
        self.signum = 0
        self._old = {}

    def install(self):
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (e.g. tests)
                pass

    def _handler(self, signum, frame):
        self.flag = True
        self.signum = int(signum)

    def restore(self):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _provenance(comm, info) -> dict:
    return {"mpiml": __version__, "mpi_library": info.get("mpi_library"),
            "mpi4py": info.get("mpi4py"), "n_ranks": comm.size, "hosts": sorted(set(info.get("hosts", []))),
            "python": platform.python_version(), "numpy": np.__version__,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def resolve_resume(opts: RunOptions):
    """Which checkpoint to resume from (or None); the combination of options
    was checked by :class:`mpiml.runtime.settings.RunSettings`."""
    if opts.resume == "auto":
        return ckpt_write.latest(opts.checkpoint_dir) if Path(opts.checkpoint_dir).is_dir() else None
    return opts.resume


def train(algo, comm, opts: RunOptions, info: dict, stop=None) -> dict:
    """Collective.  Run ``algo`` to completion; returns a summary dict.

    ``stop``: a :class:`StopFlag` installed by the caller (the CLI installs it
    before MPI starts, so an early SIGUSR1 is not lost); one is made here
    otherwise.
    """
    settings = getattr(algo, "settings", None)
    if settings is not None:
        # The stored configuration always holds every option of the algorithm
        # (the resume guard compares them), also when called as a library.
        opts = replace(opts, config={**opts.config, **settings.to_config()})
    with comm.agree("opening the progress log"):
        progress = Progress(comm.rank, algo.columns, opts.log, opts.quiet)
    own_stop = stop is None
    if own_stop:
        stop = StopFlag()
        stop.install()
    faults = FaultPlan(opts.faults, comm.rank)
    straggler = Straggler(opts.straggler, comm.rank, opts.seed)
    try:
        return _train(algo, comm, opts, info, progress, stop, faults, straggler)
    finally:
        if own_stop:
            stop.restore()
        progress.close()


def _train(algo, comm, opts, info, progress, stop, faults, straggler):
    with comm.agree("checking options"):
        resume_from = resolve_resume(opts)
        if opts.checkpoint_dir:
            ckpt_write.check_writable_root(opts.checkpoint_dir, resume=bool(resume_from) or opts.resume == "auto")
        comm.check_same(opts.config, "the resolved configuration")

    t_setup = time.perf_counter()
    with comm.agree(f"setting up {algo.name}"):
        local_n = algo.setup(comm)
    sizes = comm.allgather_obj(int(local_n), "progress")
    info.update(algorithm=algo.name, consistency=algo.consistency, partition=sizes, config=opts.config,
                partition_what=algo.partition_what, hosts=comm.hosts(), size=comm.size)

    start = 0
    if resume_from:
        ck = ckpt_load(comm, resume_from, algo.name, algo.schema)
        with comm.agree("restoring from checkpoint"):
            conflicts = algo.resume_conflicts(ck.config, opts.config)
            if conflicts:
                raise ConfigError(f"cannot --resume {ck.dir}: {'; '.join(conflicts)} "
                                  f"(use --init-from to start a new run)")
            algo.restore(comm, ck)
            algo.converged_ = bool(ck.meta.get("converged", False))
        start = ck.iteration
        info.update(resumed_from=str(ck.dir), start_iteration=start)
    elif opts.init_from:
        from ..io.ckpt_read import load
        ck = load(comm, opts.init_from, algo.name, algo.schema)
        with comm.agree("warm start"):
            algo.warm_start(comm, ck)
    else:
        with comm.agree(f"initialising {algo.name}"):
            algo.initialize(comm)
    setup_s = comm.allreduce_scalar(time.perf_counter() - t_setup, "max", "progress")
    progress.print(banner(info))
    progress.print(f"setup {setup_s:.3f} s")
    progress.event({"event": "start", **{k: v for k, v in info.items() if k != "hosts"}, "setup_s": setup_s})

    last_written = start if resume_from else None
    it = start
    records = []
    while it < opts.max_iter and not algo.converged_:
        it += 1
        base = comm.stats.snapshot()
        t0 = time.perf_counter()
        straggler.begin_iteration()
        with comm.phase(algo.name, it), comm.agree(f"iteration {it}"):
            faults.in_iteration(it)
            metrics = algo.step(comm, it, straggler)
            if faults.poison(it):
                metrics["objective"] = float("nan")
            if not math.isfinite(metrics["objective"]):
                raise NumericalError(f"objective is {metrics['objective']} at iteration {it}")
        wall = time.perf_counter() - t0
        now = comm.stats.snapshot()
        d_comm, d_wait = now["comm"] - base["comm"], now["wait"] - base["wait"]
        mine = [max(wall - d_comm - d_wait, 0.0), d_comm, d_wait, float(now["bytes"] - base["bytes"]),
                float(stop.signum if stop.flag else 0)]
        allv = np.asarray(comm.allgather_obj(mine, "progress"))
        record = {"iter": it, "objective": float(metrics.pop("objective")),
                  "compute_s": float(allv[:, 0].max()), "comm_s": float(allv[:, 1].max()),
                  "wait_s": float(allv[:, 2].max()), "bytes": int(allv[:, 3].sum()),
                  "bytes_max_rank": int(allv[:, 3].max()), "wall_s": wall, **metrics}
        records.append(record)
        progress.row(record)
        stopping = bool(allv[:, 4].max())
        if stopping:
            who = int(np.flatnonzero(allv[:, 4])[0])
            signame = signal.Signals(int(allv[who, 4])).name
        due = (opts.checkpoint_every and it % opts.checkpoint_every == 0)
        if opts.checkpoint_dir and (due or stopping):
            _checkpoint(algo, comm, opts, it, info, faults)
            last_written = it
        if stopping:
            saved = (f"checkpoint written to {opts.checkpoint_dir}" if opts.checkpoint_dir
                     else "no --checkpoint-dir: nothing saved")
            raise PreemptedError(f"stopped by {signame} (received by rank {who}) after iteration {it}; {saved}")

    with comm.agree(f"finishing {algo.name}"):
        summary = algo.finish(comm)
    if opts.checkpoint_dir and last_written != it:
        _checkpoint(algo, comm, opts, it, info, faults)
    summary.update(iterations=it, converged=bool(algo.converged_))
    if opts.checkpoint_dir:
        summary["checkpoint"] = str(ckpt_write.latest(opts.checkpoint_dir))
    progress.event({"event": "finish", **summary})
    return summary


def _checkpoint(algo, comm, opts, it, info, faults):
    with comm.phase("checkpoint", it), comm.agree(f"collecting checkpoint state at iteration {it}"):
        state = algo.state(comm, it)
        state.meta["converged"] = bool(algo.converged_)
    t0 = time.perf_counter()
    ckpt_write.write(comm, opts.checkpoint_dir, state, algorithm=algo.name, schema=algo.schema,
                     config=opts.config, provenance=_provenance(comm, info), keep=opts.keep,
                     fault=faults.during_checkpoint(it))
    return time.perf_counter() - t0


def host_info(comm) -> dict:
    """Collective.  Versions for the banner and provenance."""
    from ..comm import mpi_info
    from importlib.metadata import PackageNotFoundError, version
    try:
        nb = version("numba")  # read the version without importing numba here
    except PackageNotFoundError:  # pragma: no cover
        nb = "absent"
    return {"version": __version__, "numpy": np.__version__, "numba": nb,
            "hostname": socket.gethostname(), **mpi_info()}
