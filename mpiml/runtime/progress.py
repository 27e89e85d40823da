"""Rank-0 progress table, JSON-lines log and start-up banner."""

from __future__ import annotations

import json
import sys
from collections import Counter


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} GB"


class Progress:
    """One table row per iteration on rank 0; the same records as JSON lines.

    ``columns`` lists the algorithm's extra metrics as ``(key, header, fmt)``.
    """

    BASE = [("iter", "{:>5d}", 5), ("objective", "{:>14.6e}", 14), ("compute_s", "{:>9.3f}", 9),
            ("comm_s", "{:>8.3f}", 8), ("wait_s", "{:>8.3f}", 8), ("bytes", "{:>10s}", 10)]

    def __init__(self, rank: int, columns=(), log_path=None, quiet=False, stream=None):
        self.rank = rank
        self.columns = list(columns)
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.log = None
        if log_path and rank == 0:
            from pathlib import Path
            from ..errors import InputError
            try:
                Path(log_path).parent.mkdir(parents=True, exist_ok=True)
                self.log = open(log_path, "a", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"cannot open the log for appending: {exc.strerror}", log_path) from None
        self._header_done = False

    def print(self, text: str) -> None:
        if self.rank == 0 and not self.quiet:
            print(text, file=self.stream, flush=True)

    def header(self) -> None:
        heads = [f"{name:>{w}s}" for name, _, w in self.BASE]
        heads += [f"{h:>{max(len(h), 10)}s}" for _, h, _ in self.columns]
        self.print("  ".join(heads))
        self._header_done = True

    def row(self, record: dict) -> None:
        if self.rank != 0:
            return
        if not self._header_done:
            self.header()
        cells = [f"{record['iter']:>5d}", f"{record['objective']:>14.6e}", f"{record['compute_s']:>9.3f}",
                 f"{record['comm_s']:>8.3f}", f"{record['wait_s']:>8.3f}",
                 f"{human_bytes(record['bytes']):>10s}"]
        for key, head, fmt in self.columns:
            val = record.get(key)
            cell = "-" if val is None else fmt.format(val)
            cells.append(f"{cell:>{max(len(head), 10)}s}")
        self.print("  ".join(cells))
        self.event(record)

    def event(self, record: dict) -> None:
        if self.log is not None:
            self.log.write(json.dumps(record, sort_keys=True) + "\n")
            self.log.flush()

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


def banner(info: dict) -> str:
    hosts = Counter(info["hosts"])
    host_txt = ", ".join(f"{h} x{n}" for h, n in sorted(hosts.items()))
    sizes = info["partition"]
    lines = [
        f"mpiml {info['version']} | {info['algorithm']} | consistency {info['consistency']}",
        f"world size {info['size']} on {len(hosts)} host(s): {host_txt}",
        f"{info['mpi_library']} (MPI {info['mpi_standard']}) | mpi4py {info['mpi4py']} "
        f"| numpy {info['numpy']} | numba {info.get('numba', '?')}",
        f"partition {info['partition_what']} per rank: {' '.join(str(s) for s in sizes)} "
        f"(min {min(sizes)}, max {max(sizes)}, total {sum(sizes)})"
        + (f"; {info['partition_note']}" if info.get("partition_note") else ""),
    ]
    if info.get("config"):
        lines.append("config " + " ".join(f"{k}={v}" for k, v in sorted(info["config"].items())
                                          if v is not None))
    if info.get("resumed_from"):
        lines.append(f"resumed from {info['resumed_from']} (iteration {info['start_iteration']})")
    return "\n".join(lines)
