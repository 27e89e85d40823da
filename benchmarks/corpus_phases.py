"""CPU seconds per rank of the corpus reader's steps.

``read_parallel`` is called as IBM1 training calls it, ``--reps`` times; the
functions it calls are wrapped here (not re-implemented) with
``time.process_time``, so each step reports this process's own CPU time
(wall time on a shared machine measures the other jobs).  Steps: scanning
for line boundaries, reading and UTF-8 checking a block, marking the
``|||`` separators, tokenising a block, dropping empty pairs, the used-word
tables, the vocabulary merge, remapping ids, and every ``allgather_obj``.
Rank 0 prints, for the repetition with the least total CPU on each rank,
one row per step with each rank's seconds, then the load average (no
assertions).

    mpiexec -n 2 python -m mpi4py benchmarks/corpus_phases.py corpus.e corpus.f
    mpiexec -n 2 python -m mpi4py benchmarks/corpus_phases.py corpus.ef
"""

from __future__ import annotations

import argparse
import collections
import os
import time

from mpiml.comm import Comm
from mpiml.comm import operations
from mpiml.io import corpus, kernels, tokens

try:
    from mpiml.io import vocab
except ImportError:      # an older reader
    vocab = None

SECONDS = collections.defaultdict(float)


def _wrap(owner, name: str, label: str) -> None:
    fn = getattr(owner, name, None)
    if fn is None:           # an older reader (run for a before/after comparison)
        return

    def timed(*args, **kwargs):
        c0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SECONDS[label] += time.process_time() - c0
    setattr(owner, name, timed)


STEPS = [(corpus, "_scan_chunk", "scan for newlines"), (corpus, "_read_block", "read + UTF-8 check"),
         (corpus, "_tokenize_marked", "'|||' layout: mark + tokenise + split"),
         (tokens, "large_block", "tokenise a block (kernels)"),
         (tokens.Tokenizer, "block", "tokenise a block (any path)"),
         (corpus, "drop_lines", "drop empty pairs"), (tokens.Tokenizer, "used", "used-word tables"),
         (vocab, "merge", "vocabulary merge + decode"), (tokens.Tokenizer, "remap", "remap ids"),
         (operations.Operations, "allgather_obj", "allgather_obj (3 calls)")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", help="source and target files, or one '|||' file")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    kernels.warm()
    for owner, name, label in STEPS:
        if owner is not None:
            _wrap(owner, name, label)
    comm = Comm()
    best = None
    for _ in range(args.reps):
        SECONDS.clear()
        comm.barrier()
        c0, w0 = time.process_time(), time.perf_counter()
        c = corpus.read_parallel(comm, *args.paths)
        SECONDS["TOTAL (CPU)"] = time.process_time() - c0
        SECONDS["TOTAL (wall)"] = time.perf_counter() - w0
        if best is None or SECONDS["TOTAL (CPU)"] < best["TOTAL (CPU)"]:
            best = dict(SECONDS)
    every = comm.allgather_obj(best)
    size = sum(os.path.getsize(x) for x in args.paths) / 1e6
    if comm.rank == 0:
        print(f"{size:.1f} MB, {comm.size} ranks, {c.n_src} source / {c.n_tgt} target words, "
              f"best of {args.reps}; CPU seconds per rank")
        for label in [s[2] for s in STEPS] + ["TOTAL (CPU)", "TOTAL (wall)"]:
            if any(label in e for e in every):
                print(f"  {label:40s}" + "".join(f" {e.get(label, 0.0):7.3f}" for e in every))
        cpu = max(e["TOTAL (CPU)"] for e in every)
        print(f"  MB/s per rank (CPU, slowest rank): {size / comm.size / cpu:.1f}; "
              f"load average {os.getloadavg()[0]:.2f}")
    comm.close()


if __name__ == "__main__":
    main()
