"""Reading the JSON-lines progress logs that ``mpiml train --log`` writes (pure).

A log holds a ``start`` event, one record per iteration (``iter``,
``objective``, ``compute_s``, ``comm_s``, ``wait_s`` as maxima over ranks,
``bytes`` summed over ranks, ``wall_s``, the algorithm's own metrics) and a
``finish`` event. The file is opened for appending, so a resumed run
(``start`` with ``start_iteration``) continues the run before it, and a
fresh run written into the same file starts a new one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

# validation metrics, the first one present is the one plotted
VALIDATION_KEYS = ("valid_rmse", "va_acc", "va_logloss", "va_loss")


@dataclass
class Run:
    """One training run read from a log."""

    path: str
    start: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    finish: dict | None = None
    label: str = ""
    colour: str = "C0"

    def series(self, key: str) -> tuple[list, list]:
        """(iterations, values) of ``key`` over the records that have a number for it."""
        it, vals = [], []
        for r in self.records:
            v = r.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                it.append(r["iter"])
                vals.append(float(v))
        return it, vals

    def wall_time(self) -> list[float]:
        """Cumulative seconds at the end of each iteration (setup excluded)."""
        out, t = [], 0.0
        for r in self.records:
            t += float(r.get("wall_s", 0.0))
            out.append(t)
        return out

    @property
    def validation_key(self) -> str | None:
        for k in VALIDATION_KEYS:
            if self.series(k)[0]:
                return k
        return None

    def staleness_histogram(self) -> dict[int, int] | None:
        """Observed staleness -> reads, summed over iterations (table runs only).

        From the records' ``stale_hist`` ("0:6 1:4 ..."; the last bin may read
        "15+:n"); None when the run has no parameter-table statistics.
        """
        hist, seen = {}, False
        for r in self.records:
            text = r.get("stale_hist")
            if text is None:
                continue
            seen = True
            for tok in str(text).split():
                s, _, n = tok.partition(":")
                hist[int(s.rstrip("+"))] = hist.get(int(s.rstrip("+")), 0) + int(n)
        return hist if seen else None

    def edge_bytes(self) -> list | None:
        """Per-edge C-step bytes per iteration [(src, dst, bytes)...] from the finish record."""
        if not self.finish:
            return None
        edges = self.finish.get("edge_bytes") or (self.finish.get("plan") or {}).get("edge_bytes")
        return [tuple(e) for e in edges] if edges else None


def default_label(run: Run) -> str:
    s = run.start
    parts = [s.get("algorithm") or Path(run.path).stem]
    fin = run.finish or {}
    if fin.get("topology"):
        parts.append(str(fin["topology"]))
    elif fin.get("solver"):
        parts.append(str(fin["solver"]))
    elif s.get("consistency"):
        parts.append(str(s["consistency"]))
    if s.get("size"):
        parts.append(f"{s['size']} ranks")
    return " ".join(parts)


def read_runs(path) -> list[Run]:
    """Every run in one log file (usually one). InputError names file:line on bad JSON."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such log file", p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the log: {exc}", p) from None
    runs: list[Run] = []
    cur = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not a JSON record ({exc.msg})", p, n) from None
        if not isinstance(rec, dict):
            raise InputError("expected a JSON object per line", p, n)
        ev = rec.get("event")
        if ev == "start":
            resumed = rec.get("start_iteration") is not None and cur is not None
            if not resumed:
                cur = Run(str(p), start=rec)
                runs.append(cur)
        elif ev == "finish":
            if cur is None:
                cur = Run(str(p))
                runs.append(cur)
            cur.finish = rec
        elif "iter" in rec:
            if cur is None:
                cur = Run(str(p))
                runs.append(cur)
            # a resumed run repeats no iteration; if it does, keep the latest
            cur.records = [r for r in cur.records if r["iter"] < rec["iter"]] + [rec]
    if not runs or not any(r.records for r in runs):
        raise InputError("no iteration records (was it written by mpiml train --log?)", p)
    return [r for r in runs if r.records]


def load(paths, labels=None) -> list[Run]:
    """Runs of every log; ``labels`` (one per path) override the default labels."""
    if labels and len(labels) != len(paths):
        from ..errors import ConfigError
        raise ConfigError(f"--label given {len(labels)} times for {len(paths)} logs")
    out = []
    for i, path in enumerate(paths):
        runs = read_runs(path)
        for j, run in enumerate(runs):
            base = labels[i] if labels else default_label(run)
            run.label = base if len(runs) == 1 else f"{base} (run {j + 1})"
            out.append(run)
    for i, run in enumerate(out):
        run.colour = f"C{i % 10}"
    seen = {}
    for run in out:   # the same label twice: tell them apart by file name
        seen.setdefault(run.label, []).append(run)
    for same in seen.values():
        if len(same) > 1:
            for run in same:
                run.label = f"{run.label} [{Path(run.path).name}]"
    return out
