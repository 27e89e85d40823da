"""Fault and straggler injection, for tests and demonstrations.

Faults (``MPIML_FAULT`` environment variable, read by the CLI only)::

    KIND:RANK:ITERATION[,KIND:RANK:ITERATION...]

    raise      raise an exception inside the iteration (agreed, clean exit 1)
    exit       os._exit(13) abruptly in the iteration
    kill       SIGKILL itself in the iteration
    nan        the rank's objective becomes NaN (NumericalError, exit 4)
    hang       sleep forever in the iteration (the watchdog must end the job)
    signal     send SIGUSR1 to itself (checkpoint-and-requeue path, exit 75)
    sigint     send SIGINT to itself (Ctrl-C: the same path, exit 75)
    ckpt-kill  SIGKILL itself while the checkpoint of that iteration is being
               written (after the shards, before publishing)
    finish     raise in the agreed block after the last iteration, just before
               the final checkpoint and shutdown (ITERATION is ignored)

Stragglers (``--straggler``)::

    RANK:FACTOR            rank RANK is always FACTOR times slower
    random:P:FACTOR        at each iteration each rank is, with probability P,
                           FACTOR times slower for that iteration (seeded)

A slowdown is applied by sleeping ``(FACTOR - 1) x`` the compute time just
measured, so it scales with the real work wherever the algorithm calls
:meth:`Straggler.delay`.  The first iteration of each process is not slowed:
its compute time is dominated by loading the compiled kernels (seconds under
load), which multiplied by FACTOR made resumed runs look hung.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, MpimlError

KINDS = ("raise", "exit", "kill", "nan", "hang", "signal", "sigint", "ckpt-kill", "finish")


class InjectedFault(MpimlError):
    """The exception raised by the ``raise`` fault."""


@dataclass(frozen=True)
class Fault:
    kind: str
    rank: int
    iteration: int


def parse_faults(text: str | None) -> list[Fault]:
    if not text:
        return []
    out = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 3 or parts[0] not in KINDS:
            raise ConfigError(f"MPIML_FAULT item {item!r}: expected KIND:RANK:ITERATION "
                              f"with KIND one of {', '.join(KINDS)}")
        try:
            out.append(Fault(parts[0], int(parts[1]), int(parts[2])))
        except ValueError:
            raise ConfigError(f"MPIML_FAULT item {item!r}: RANK and ITERATION must be integers") from None
    return out


class FaultPlan:
    def __init__(self, faults: list[Fault], rank: int):
        self.faults = [f for f in faults if f.rank == rank]
        self.rank = rank

    def _due(self, kind: str, iteration: int) -> bool:
        return any(f.kind == kind and f.iteration == iteration for f in self.faults)

    def in_iteration(self, iteration: int) -> None:
        """Called inside the iteration's agreed block."""
        if self._due("raise", iteration):
            raise InjectedFault(f"injected fault at iteration {iteration}")
        if self._due("exit", iteration):
            os._exit(13)
        if self._due("kill", iteration):
            os.kill(os.getpid(), signal.SIGKILL)
        if self._due("hang", iteration):
            while True:
                time.sleep(3600)
        if self._due("signal", iteration):
            os.kill(os.getpid(), signal.SIGUSR1)
        if self._due("sigint", iteration):
            os.kill(os.getpid(), signal.SIGINT)

    def at_finish(self) -> None:
        """Called inside the agreed block that follows the last iteration."""
        if any(f.kind == "finish" for f in self.faults):
            raise InjectedFault("injected fault after the last iteration")

    def poison(self, iteration: int) -> bool:
        return self._due("nan", iteration)

    def during_checkpoint(self, iteration: int):
        if self._due("ckpt-kill", iteration):
            return lambda: os.kill(os.getpid(), signal.SIGKILL)
        return None


class Straggler:
    """Seeded, reproducible slowdown of chosen ranks."""

    def __init__(self, spec: str | None, rank: int, seed: int = 0):
        self.rank = rank
        self.spec = spec or ""
        self.fixed = None
        self.random = None
        self.total_delay = 0.0
        self._iterations = 0
        if not spec:
            return
        parts = spec.split(":")
        try:
            if parts[0] == "random" and len(parts) == 3:
                p, factor = float(parts[1]), float(parts[2])
                if not 0 <= p <= 1:
                    raise ValueError
                self.random = (p, factor, np.random.default_rng([seed, rank, 7919]))
            elif len(parts) == 2:
                self.fixed = (int(parts[0]), float(parts[1]))
                factor = self.fixed[1]
            else:
                raise ValueError
            if factor < 1:
                raise ValueError
        except ValueError:
            raise ConfigError(f"--straggler {spec!r}: expected RANK:FACTOR or random:P:FACTOR "
                              f"with FACTOR >= 1 and 0 <= P <= 1") from None
        self._factor_now = 1.0

    def begin_iteration(self) -> float:
        """Draw this iteration's factor (transient mode); returns it."""
        f = 1.0
        self._iterations += 1
        if self.fixed is not None and self.fixed[0] == self.rank:
            f = self.fixed[1]
        elif self.random is not None:
            p, factor, rng = self.random
            f = factor if rng.random() < p else 1.0
        self._factor_now = f
        return f

    def delay(self, compute_seconds: float) -> None:
        """Sleep so that ``compute_seconds`` of work looks FACTOR times slower."""
        f = getattr(self, "_factor_now", 1.0)
        if f > 1.0 and compute_seconds > 0 and self._iterations > 1:
            d = (f - 1.0) * compute_seconds
            self.total_delay += d
            time.sleep(d)
