"""CPU seconds and resident memory of IBM1's phases and iterations.

Wall times on a shared machine measure the other jobs; ``time.process_time``
around each phase measures this process.  Memory per phase: the Linux peak
resident set (``VmHWM``) is reset before each phase (``/proc/self/clear_refs``
accepts ``5`` for that) and read after it, so each phase reports its own
peak, split into anonymous memory (the data) and file-backed pages (shared
libraries, e.g. the LLVM that numba loads).  The phases are the calls
:class:`mpiml.em.distributed.DistributedIBM1` makes (wrapped here, not
re-implemented): reading, parameters, C-step plan, theta, then per
iteration E-step, C-step and M-step.  After setup the large arrays this
rank holds are listed with their bytes.  Inside the parameter build and the
planner, the kernels and planner steps are timed as well (``steps_cpu``:
CPU seconds summed per step, without resetting the peak).  Prints one JSON line per rank with
the figures and the load average (no assertions).

    python benchmarks/ibm1_phases.py c300k.e c300k.f [--estep indexed] [--dtype float32] [--iters 3]
    mpiexec -n 2 python -m mpi4py benchmarks/ibm1_phases.py c300k.e c300k.f --mpi
"""

from __future__ import annotations

import argparse
import json
import os
import time

T = time.process_time
_t_start = T()

import numpy as np  # noqa: E402

from mpiml.em import distributed as _dist  # noqa: E402
from mpiml.em.cstep import CStep  # noqa: E402
from mpiml.io.corpus import read_parallel  # noqa: E402

_t_import = T() - _t_start


def status() -> dict:
    """VmHWM, VmRSS, RssAnon, RssFile of this process in MB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key = line.split(":")[0]
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


PHASES: list = []
STEPS: dict = {}


def step(name: str, fn):
    """``fn`` wrapped: CPU seconds summed under ``name`` (no peak reset, so
    the phases' peaks stay whole)."""
    def wrapped(*a, **k):
        t0 = T()
        try:
            return fn(*a, **k)
        finally:
            STEPS[name] = round(STEPS.get(name, 0.0) + T() - t0, 3)
    return wrapped


def phase(name: str, fn):
    """``fn`` wrapped: CPU seconds, RSS before, peak during, RSS after."""
    def wrapped(*a, **k):
        before = status()
        reset_peak()
        t0 = T()
        out = fn(*a, **k)
        dt = T() - t0
        after = status()
        PHASES.append({"phase": name, "cpu_s": round(dt, 3), "rss_before": before["VmRSS"],
                       "peak": after["VmHWM"], "rss_after": after["VmRSS"],
                       "anon_after": after["RssAnon"], "file_after": after["RssFile"]})
        return out
    return wrapped


def array_bytes(model) -> dict:
    """Bytes of the large arrays a rank holds after setup, by name."""
    c, p = model.corpus_, model.params_
    out = {f"corpus.{n}": getattr(c, n).nbytes for n in ("src", "src_ptr", "tgt", "tgt_ptr", "line_index")
           if getattr(c, n) is not None}
    out.update({f"params.{n}": getattr(p, n).nbytes for n in ("src_words", "seg_ptr", "tgt_of")})
    if p.idx is not None:
        out["params.idx"] = p.idx.nbytes
    if p.occ is not None:
        out.update({f"params.occ[{i}]": a.nbytes for i, a in enumerate(p.occ)})
    base = model.theta_.base if model.theta_.base is not None else model.theta_
    out["theta (stats array)"] = base.nbytes
    plan = model.cstep_.plan
    out["plan arrays"] = sum(v.nbytes for v in vars(plan).values() if isinstance(v, np.ndarray))
    out["vocab strings (approx.)"] = sum(len(w) + 49 for w in c.src_vocab) + sum(
        len(w) + 49 for w in c.tgt_vocab) + 8 * (len(c.src_vocab) + len(c.tgt_vocab))
    return {k: round(v / 2 ** 20, 1) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--estep", choices=("word-major", "indexed"), default="word-major")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--mpi", action="store_true", help="the MPI communicator (under mpiexec)")
    ap.add_argument("--topology", default="junction-tree")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = ap.parse_args()
    at_import = status()
    if args.mpi:
        from mpiml.comm import Comm
        comm = Comm()
    else:
        from mpiml.comm.serial import SerialComm
        comm = SerialComm()
    # wrap the calls DistributedIBM1 makes, where it looks them up
    for name, attr in (("params", "build_local_params"), ("plan", "build_rank_plan"),
                       ("theta", "uniform_theta"), ("E", "estep_stats"), ("M", "mstep")):
        setattr(_dist, attr, phase(name, getattr(_dist, attr)))
    CStep.run = phase("C", CStep.run)
    # the steps inside the parameter build and the planner, where they are
    # looked up (module attributes)
    from mpiml.em import distplan, kernels
    from mpiml.em.ibm1 import LocalParams
    for name in ("source_occurrences", "pair_targets", "param_bound", "local_params"):
        setattr(kernels, name, step("params." + name, getattr(kernels, name)))
    for name in ("_send_keys_to_owners", "shared_holders_from_key_sets", "holders_from_key_sets",
                 "intersection_matrix", "_tree_lists", "_allpairs_lists", "assemble_rank_plan"):
        setattr(distplan, name, step("plan." + name, getattr(distplan, name)))
    LocalParams.stat_keys = property(step("stat_keys", LocalParams.stat_keys.fget))
    corpus = phase("read", read_parallel)(comm, args.source, args.target)
    model = _dist.DistributedIBM1(comm, args.topology, low_memory=args.estep == "word-major",
                                  dtype=args.dtype)
    t0 = T()
    model.setup(corpus, consume=True)     # as in mpiml train
    t_setup = T() - t0
    del corpus
    arrays = array_bytes(model)
    its, rec = [], None
    for _ in range(args.iters):
        t0 = T()
        rec = model.iterate()
        its.append(T() - t0)
    t_read = PHASES[0]["cpu_s"]
    line = json.dumps({
        "rank": comm.rank, "size": comm.size, "e_step": args.estep, "dtype": args.dtype, "import_cpu": round(_t_import, 2),
        "rss_at_import": at_import, "read_cpu": t_read, "params_plus_plan_cpu": round(t_setup, 2),
        "iter_cpu": [round(x, 2) for x in its],
        "setup_over_iter": round((t_read + t_setup) / float(np.median(its)), 2) if its else None,
        "loglik": None if rec is None else rec.loglik, "n_params": model.params_.n_params,
        "phases": PHASES, "steps_cpu": STEPS, "arrays_mb": arrays, "final": status(),
        "load_average": os.getloadavg()[0]})
    for text in comm.allgather_obj(line, kind="bench"):   # one line per rank, in rank order
        if comm.rank == 0:
            print(text, flush=True)


if __name__ == "__main__":
    main()
