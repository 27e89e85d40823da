"""The training loop shared by every algorithm.

Iterations, error agreement, the progress table, checkpoint cadence, resume,
signals (checkpoint and exit 75 on SIGUSR1/SIGTERM/SIGINT), fault and
straggler injection, and the checkpoint-directory guards: an exclusive lock
for the run's lifetime, probe writes of every output directory, input
fingerprints for resume.
"""

from __future__ import annotations

import math
import platform
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import CheckpointError, CollectiveError, ConfigError, NumericalError, PreemptedError
from ..io import checkpoint as ckpt_write
from ..io import ckpt_guard
from ..io.ckpt_read import load as ckpt_load
from ..io.ckpt_read import newest_verified
from ..io.fingerprint import changed as inputs_changed
from ..io.fingerprint import fingerprint
from .faults import FaultPlan, Straggler
from .progress import Progress, banner


# Where this rank is, for the note printed if it ends abruptly (os._exit):
# the only rank that knows it died is the one dying.
WHERE = {"what": "before training started"}


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
    allow_changed_data: bool = False
    job_id: str | None = None          # batch job id, for the lock holder message

    def __post_init__(self):
        # Validated by the declaration of the run-control options (the same
        # checks and messages as the command line).
        from .settings import RunSettings
        RunSettings(max_iter=self.max_iter, seed=self.seed, checkpoint_dir=self.checkpoint_dir,
                    checkpoint_every=self.checkpoint_every, keep=self.keep, resume=self.resume,
                    init_from=self.init_from, log=self.log, quiet=self.quiet, straggler=self.straggler)


class StopFlag:
    """Set by SIGUSR1/SIGTERM/SIGINT; ranks agree on it at iteration boundaries
    (so Ctrl-C checkpoints and exits 75 like a preemption)."""

    def __init__(self):
        self.flag = False
        self.signum = 0
        self._old = {}

    def install(self):
        for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
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


def resolve_resume(opts: RunOptions, notes: list | None = None):
    """Which checkpoint to resume from (or None); validates the combination.

    ``--resume auto`` with checkpoints but no LATEST (a crash between
    publishing and writing the pointer) takes the newest checkpoint that
    verifies, and says so in ``notes``; it never starts fresh over them.
    """
    notes = [] if notes is None else notes
    # The combination of options was checked by RunSettings (RunOptions).
    if opts.resume and not opts.checkpoint_dir and opts.resume != "auto":
        notes.append("--resume without --checkpoint-dir: the continued run will save no checkpoints")
    if opts.resume == "auto":
        root = Path(opts.checkpoint_dir)
        if not root.is_dir():
            return None
        lt = ckpt_write.latest(root)
        if lt is not None:
            return lt
        if not ckpt_write.ckpt_entries(root):
            return None
        found, skipped = newest_verified(root)
        if found is None:
            raise CheckpointError(f"{root} holds checkpoints but no LATEST, and none of them verifies "
                                  f"({'; '.join(skipped)}); not starting fresh over them")
        why = f" ({len(skipped)} newer one(s) did not verify: {'; '.join(skipped)})" if skipped else ""
        notes.append(f"{root}/LATEST is missing; resuming from {found.name}, the newest checkpoint "
                     f"that verifies{why}")
        return found
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
    lock = None
    try:
        resume_from, lock = _check_setup(algo, comm, opts)
        with comm.agree("opening the progress log"):
            progress = Progress(comm.rank, algo.columns, opts.log, opts.quiet)
        own_stop = stop is None
        if own_stop:
            stop = StopFlag()
            stop.install()
        faults = FaultPlan(opts.faults, comm.rank)
        straggler = Straggler(opts.straggler, comm.rank, opts.seed)
        try:
            return _train(algo, comm, opts, info, progress, stop, faults, straggler, resume_from)
        finally:
            if own_stop:
                stop.restore()
            progress.close()
    finally:
        if lock is not None:
            lock.release()


def _warn(comm, msg: str) -> None:
    if comm.rank == 0:
        sys.stderr.write(f"mpiml: warning: {msg}\n")
        sys.stderr.flush()


def _paths(algo, opts, options) -> dict:
    """``{option: path}`` of the given options that are set: from the stored
    configuration, or the algorithm's attribute (outputs may be kept out of
    the stored configuration)."""
    out = {}
    for k in options:
        v = opts.config.get(k)
        if not isinstance(v, str):
            v = getattr(algo, k, None)
        if isinstance(v, str) and v:
            out[k] = v
    return out


def _check_setup(algo, comm, opts):
    """Collective.  Everything that can be checked before any work: options,
    the checkpoint directory (locked by rank 0 for the run's lifetime,
    probe-written by every rank), output paths (writable, never an input)."""
    lock = None
    with comm.agree("checking options"):
        notes, resume_from = [], None
        if comm.rank == 0:
            resume_from = resolve_resume(opts, notes)
            for n in notes:
                _warn(comm, n)
    resume_from = comm.bcast_obj(None if resume_from is None else str(resume_from), kind="setup")
    try:
        with comm.agree("checking the checkpoint directory and output paths"):
            comm.check_same(opts.config, "the resolved configuration")
            if opts.checkpoint_dir:
                if comm.rank == 0:
                    lock = ckpt_guard.DirLock(opts.checkpoint_dir, opts.job_id)
                    lock.acquire()
                ckpt_write.check_writable_root(opts.checkpoint_dir,
                                               resume=bool(resume_from) or opts.resume == "auto")
                ckpt_guard.probe_dir(opts.checkpoint_dir, "--checkpoint-dir", str(comm.rank))
            inputs = _paths(algo, opts, algo.input_options)
            outputs = _paths(algo, opts, algo.output_options)
            if opts.log:
                outputs["log"] = opts.log
            for out, opath in outputs.items():
                for inp, ipath in inputs.items():
                    if ckpt_guard.same_file(opath, ipath):
                        raise ConfigError(f"--{out.replace('_', '-')} {opath} is the input file given as "
                                          f"--{inp.replace('_', '-')} {ipath}; it would be overwritten "
                                          f"(choose another output path)")
                ckpt_guard.probe_dir(Path(opath).parent, f"--{out.replace('_', '-')}: directory",
                                     str(comm.rank))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return resume_from, lock


def _estimate_space(algo, comm, opts, start) -> None:
    """Collective.  Warn when the checkpoint directory looks too small."""
    try:
        with comm.agree("estimating the checkpoint size"):
            st = algo.state(comm, start)
            mine = st.nbytes() + (sum(np.asarray(v).nbytes for v in st.replicated.values())
                                  if comm.rank == 0 else 0)
    except CollectiveError:
        return      # an algorithm that cannot describe its state yet: no estimate
    need = int(comm.allreduce_scalar(mine, "sum", "setup"))
    if comm.rank == 0:
        msg = ckpt_guard.free_space_warning(opts.checkpoint_dir, int(need * 1.05) + (1 << 20))
        if msg:
            _warn(comm, msg)


def _train(algo, comm, opts, info, progress, stop, faults, straggler, resume_from):

    t_setup = time.perf_counter()
    WHERE["what"] = f"while setting up {algo.name}"
    with comm.agree(f"setting up {algo.name}"):
        local_n = algo.setup(comm)
    sizes = comm.allgather_obj(int(local_n), "progress")
    info.update(algorithm=algo.name, consistency=algo.consistency, partition=sizes, config=opts.config,
                partition_what=algo.partition_what, hosts=comm.hosts(), size=comm.size)

    inputs = _paths(algo, opts, algo.input_options)
    fps = fingerprint(comm, inputs) if (opts.checkpoint_dir or resume_from) else {}
    start = 0
    run_id = None
    if resume_from:
        ck = ckpt_load(comm, resume_from, algo.name, algo.schema)
        with comm.agree("restoring from checkpoint"):
            diffs = inputs_changed(ck.inputs, fps)
            if diffs and not opts.allow_changed_data:
                raise ConfigError(f"cannot --resume {ck.dir}: the input data differ from the checkpoint's: "
                                  + "; ".join(diffs) + " (--allow-changed-data continues anyway)")
            if diffs:
                _warn(comm, "--allow-changed-data: resuming although " + "; ".join(diffs))
            # Input files were compared by content above, not by name.
            stored = {**ck.config, **{k: opts.config.get(k) for k in set(inputs) | set(ck.inputs)}}
            conflicts = algo.resume_conflicts(stored, opts.config)
            if conflicts:
                raise ConfigError(f"cannot --resume {ck.dir}: {'; '.join(conflicts)} "
                                  f"(use --init-from to start a new run)")
            if opts.checkpoint_dir:
                later = [p.name for p in ckpt_write.ckpt_entries(opts.checkpoint_dir)
                         if ckpt_write.CKPT_NAME.match(p.name) and int(p.name[5:]) > ck.iteration]
                if later:
                    raise ConfigError(f"--checkpoint-dir {opts.checkpoint_dir} already holds {', '.join(later)}, "
                                      f"newer than {ck.dir.name}; this run would reach them and checkpoints "
                                      f"are never replaced (resume from the newest, or use another directory)")
            algo.restore(comm, ck)
            algo.converged_ = bool(ck.meta.get("converged", False))
        start = ck.iteration
        run_id = ck.run_id
        info.update(resumed_from=str(ck.dir), start_iteration=start)
    elif opts.init_from:
        from ..io.ckpt_read import load
        ck = load(comm, opts.init_from, algo.name, algo.schema)
        with comm.agree("warm start"):
            algo.warm_start(comm, ck)
    else:
        with comm.agree(f"initialising {algo.name}"):
            algo.initialize(comm)
    run_id = comm.bcast_obj(run_id or uuid.uuid4().hex, kind="setup")
    ckpt_args = {"run_id": run_id, "inputs": fps}
    if opts.checkpoint_dir:
        _estimate_space(algo, comm, opts, start)
    setup_s = comm.allreduce_scalar(time.perf_counter() - t_setup, "max", "progress")
    if getattr(algo, "partition_note", None):
        info["partition_note"] = algo.partition_note
    progress.print(banner(info))
    progress.print(f"setup {setup_s:.3f} s")
    progress.event({"event": "start", **{k: v for k, v in info.items() if k != "hosts"}, "setup_s": setup_s})

    last_written = start if resume_from else None
    it = start
    records = []
    while it < opts.max_iter and not algo.converged_:
        it += 1
        WHERE["what"] = f"in iteration {it} of {algo.name}"
        base = comm.stats.snapshot()
        t0, c0 = time.perf_counter(), time.process_time()
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
        # CPU seconds of this process (all its threads): unlike wall time, not
        # inflated while the OS runs other jobs on a shared machine.
        mine = [max(wall - d_comm - d_wait, 0.0), d_comm, d_wait, float(now["bytes"] - base["bytes"]),
                float(stop.signum if stop.flag else 0), time.process_time() - c0]
        allv = np.asarray(comm.allgather_obj(mine, "progress"))
        record = {"iter": it, "objective": float(metrics.pop("objective")),
                  "compute_s": float(allv[:, 0].max()), "comm_s": float(allv[:, 1].max()),
                  "wait_s": float(allv[:, 2].max()), "bytes": int(allv[:, 3].sum()),
                  "bytes_max_rank": int(allv[:, 3].max()), "wall_s": wall, "cpu_s_max_rank": float(allv[:, 5].max()),
                  **metrics}
        records.append(record)
        progress.row(record)
        stopping = bool(allv[:, 4].max())
        if stopping:
            who = int(np.flatnonzero(allv[:, 4])[0])
            signame = signal.Signals(int(allv[who, 4])).name
        due = (opts.checkpoint_every and it % opts.checkpoint_every == 0)
        if opts.checkpoint_dir and (due or stopping):
            _checkpoint(algo, comm, opts, it, info, faults, ckpt_args)
            last_written = it
        if stopping:
            saved = (f"checkpoint written to {opts.checkpoint_dir}" if opts.checkpoint_dir
                     else "no --checkpoint-dir: nothing saved")
            raise PreemptedError(f"stopped by {signame} (received by rank {who}) after iteration {it}; {saved}")

    WHERE["what"] = f"while finishing {algo.name} after iteration {it}"
    with comm.agree(f"finishing {algo.name}"):
        faults.at_finish()
        summary = algo.finish(comm)
    if opts.checkpoint_dir and last_written != it:
        _checkpoint(algo, comm, opts, it, info, faults, ckpt_args)
    summary.update(iterations=it, converged=bool(algo.converged_))
    if opts.checkpoint_dir:
        summary["checkpoint"] = str(ckpt_write.latest(opts.checkpoint_dir))
    progress.event({"event": "finish", **summary})
    return summary


def _checkpoint(algo, comm, opts, it, info, faults, ckpt_args):
    WHERE["what"] = f"while writing the checkpoint of iteration {it} to {opts.checkpoint_dir}"
    with comm.phase("checkpoint", it), comm.agree(f"collecting checkpoint state at iteration {it}"):
        state = algo.state(comm, it)
        state.meta["converged"] = bool(algo.converged_)
    t0 = time.perf_counter()
    ckpt_write.write(comm, opts.checkpoint_dir, state, algorithm=algo.name, schema=algo.schema,
                     config=opts.config, provenance=_provenance(comm, info), keep=opts.keep,
                     fault=faults.during_checkpoint(it), **ckpt_args)
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
