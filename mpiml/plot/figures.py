"""Figures of progress logs, drawn with matplotlib's Agg canvas (no display,
no pyplot global state), so it works on a login node without X."""

from __future__ import annotations

import math

from ..errors import ConfigError, InputError

KINDS = ("objective", "walltime", "breakdown", "bytes", "staleness", "validation", "edges")


def extra_message(what: str) -> str:
    """What to tell a user of ``what`` (a command) whose Python lacks matplotlib."""
    return (f"{what} needs matplotlib, which is an optional extra: "
            "pip install 'mpiml[plot]' (or pip install matplotlib)")


PLOT_EXTRA_MESSAGE = extra_message("mpiml plot")


class MissingExtra(ConfigError):
    """matplotlib is not installed."""


def require_matplotlib(what: str = "mpiml plot"):
    """matplotlib's ``Figure`` and Agg canvas classes, or :class:`MissingExtra`
    naming ``what`` and the extra to install.  The one availability check of
    every figure mpiml draws (``mpiml plot``, ``mpiml bench scaling``)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtra(extra_message(what)) from None
    return Figure, FigureCanvasAgg


def available(runs, kind: str) -> bool:
    """Whether ``kind`` has data in at least one run."""
    if kind == "staleness":
        return any(r.staleness_histogram() for r in runs)
    if kind == "validation":
        return any(r.validation_key for r in runs)
    if kind == "edges":
        return any(r.edge_bytes() for r in runs)
    return True


def _objective(ax, runs):
    for r in runs:
        ax.plot(*r.series("objective"), marker=".", label=r.label, color=r.colour)
    ax.set(xlabel="iteration", ylabel="objective", title="objective per iteration")
    _maybe_log(ax, [v for r in runs for v in r.series("objective")[1]])


def _walltime(ax, runs):
    for r in runs:
        ok = [i for i, rec in enumerate(r.records) if isinstance(rec.get("objective"), (int, float))
              and math.isfinite(rec["objective"])]
        t = r.wall_time()
        ax.plot([t[i] for i in ok], [r.records[i]["objective"] for i in ok], marker=".", label=r.label,
                color=r.colour)
    ax.set(xlabel="wall time (s, setup excluded)", ylabel="objective", title="objective vs time")
    _maybe_log(ax, [v for r in runs for v in r.series("objective")[1]])


def _maybe_log(ax, values):
    pos = [v for v in values if v > 0]
    if pos and len(pos) == len(values) and max(pos) / min(pos) > 100:
        ax.set_yscale("log")


def _breakdown(ax, run):
    it = [r["iter"] for r in run.records]
    bottom = [0.0] * len(it)
    for key, colour in (("compute_s", "tab:blue"), ("comm_s", "tab:orange"), ("wait_s", "tab:red")):
        vals = [float(r.get(key, 0.0)) for r in run.records]
        ax.bar(it, vals, bottom=bottom, color=colour, label=key[:-2], width=0.8)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set(xlabel="iteration", ylabel="seconds (max over ranks)", title=f"time per iteration: {run.label}")
    ax.legend(fontsize="small")


def _bytes(ax, runs):
    for r in runs:
        ax.plot(*r.series("bytes"), marker=".", label=f"{r.label} (all ranks)", color=r.colour)
        it, mx = r.series("bytes_max_rank")
        if it:
            ax.plot(it, mx, linestyle="--", label=f"{r.label} (max per rank)", color=r.colour)
    ax.set(xlabel="iteration", ylabel="bytes sent", title="bytes per iteration")
    _maybe_log(ax, [v for r in runs for v in r.series("bytes")[1]])


def _staleness(ax, runs):
    tables = [(r, r.staleness_histogram()) for r in runs]
    tables = [(r, h) for r, h in tables if h]
    width = 0.8 / max(len(tables), 1)
    for j, (r, h) in enumerate(tables):
        total = sum(h.values())
        xs = sorted(h)
        ax.bar([x - 0.4 + width * (j + 0.5) for x in xs], [h[x] / total for x in xs], width=width,
               label=r.label, color=r.colour)
    ax.set(xlabel="observed staleness (clocks)", ylabel="fraction of reads", title="staleness of reads")


def _validation(ax, runs):
    keys = set()
    for r in runs:
        k = r.validation_key
        if k:
            keys.add(k)
            ax.plot(*r.series(k), marker=".", label=f"{r.label} ({k})", color=r.colour)
    ax.set(xlabel="iteration", ylabel=" / ".join(sorted(keys)), title="validation metric")


def _edges(ax, run, fig):
    edges = run.edge_bytes()
    n = 1 + max(max(a, b) for a, b, _ in edges)
    m = [[0.0] * n for _ in range(n)]
    for a, b, v in edges:
        m[a][b] += v
    im = ax.imshow(m, cmap="viridis")
    if n <= 32:
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
    fig.colorbar(im, ax=ax, label="bytes per iteration")
    ax.set(xlabel="destination rank", ylabel="source rank", title=f"C-step bytes per edge: {run.label}")
    hosts = (run.finish or {}).get("plan", {}).get("rank_hosts")
    if hosts:
        # outline the blocks of ranks on one host: traffic outside them crossed hosts
        start = 0
        for i in range(1, n + 1):
            if i == n or hosts[i] != hosts[start]:
                ax.add_patch(_rect(start - 0.5, start - 0.5, i - start))
                start = i


def _rect(x, y, w):
    from matplotlib.patches import Rectangle
    return Rectangle((x, y), w, w, fill=False, edgecolor="white", linewidth=1.5)


def panels(runs, kinds):
    """The list of (kind, run or None) panels to draw."""
    out = []
    for k in kinds:
        if k in ("breakdown",):
            out += [(k, r) for r in runs]
        elif k == "edges":
            out += [(k, r) for r in runs if r.edge_bytes()]
        else:
            out.append((k, None))
    return out


def render(runs, path, kinds=None, title: str | None = None, dpi: int = 100) -> list[str]:
    """Draw ``kinds`` (default: every kind with data) of ``runs`` into a PNG at ``path``.

    Returns the kinds drawn. Raises :class:`MissingExtra` without matplotlib
    and ConfigError when an explicitly requested kind has no data.
    """
    Figure, Canvas = require_matplotlib()
    if kinds:
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ConfigError(f"unknown plot kind {bad[0]!r}; choose from {', '.join(KINDS)}")
        missing = [k for k in kinds if not available(runs, k)]
        if missing:
            what = {"staleness": "a staleness histogram (parameter-table runs: mpiml train linear)",
                    "validation": "a validation metric (--valid or --valid-fraction)",
                    "edges": "a per-edge byte matrix (mpiml train ibm1)"}[missing[0]]
            raise ConfigError(f"no run in these logs has {what}")
    else:
        kinds = [k for k in KINDS if available(runs, k)]
    todo = panels(runs, kinds)
    cols = 2 if len(todo) > 1 else 1
    rows = math.ceil(len(todo) / cols)
    fig = Figure(figsize=(6.4 * cols, 4.2 * rows), dpi=dpi, layout="constrained")
    Canvas(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (kind, run) in zip(axes, todo):
        if kind == "objective":
            _objective(ax, runs)
        elif kind == "walltime":
            _walltime(ax, runs)
        elif kind == "breakdown":
            _breakdown(ax, run)
        elif kind == "bytes":
            _bytes(ax, runs)
        elif kind == "staleness":
            _staleness(ax, runs)
        elif kind == "validation":
            _validation(ax, runs)
        elif kind == "edges":
            _edges(ax, run, fig)
        if kind not in ("breakdown", "edges"):
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    for ax in axes[len(todo):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise InputError(f"cannot write the figure: {exc.strerror or exc}", path) from None
    return kinds
