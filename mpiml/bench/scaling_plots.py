"""Figures of ``mpiml bench scaling`` (matplotlib Agg canvas, the plot extra)."""

from __future__ import annotations

from pathlib import Path

from ..plot.figures import require_matplotlib


WHAT = "mpiml bench scaling (its PNG figures)"


def check_matplotlib() -> None:
    """Raise :class:`mpiml.plot.MissingExtra` (before any job runs) without matplotlib."""
    require_matplotlib(WHAT)


def _figure(w=6.4, h=4.2):
    Figure, FigureCanvasAgg = require_matplotlib(WHAT)
    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def draw_all(results: dict, out: Path) -> list[str]:
    """Write the PNGs into ``out``; returns their file names."""
    m = results["meta"]
    names = []
    strong, weak = results["strong"], results["weak"]
    ranks = [r["ranks"] for r in strong]
    fig = _figure()
    ax = fig.subplots()
    ax.plot(ranks, [r["speedup"] for r in strong], marker="o", label="measured (strong)")
    ax.plot(ranks, ranks, linestyle="--", color="grey", label="ideal")
    ax.axvline(m["cores"], color="tab:red", alpha=0.4, label=f"{m['cores']} cores")
    ax.set(xlabel="ranks", ylabel="speed-up", title=f"{m['algorithm']}: strong scaling speed-up",
           xticks=ranks)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(out / "speedup.png")
    names.append("speedup.png")

    fig = _figure()
    ax = fig.subplots()
    ax.plot(ranks, [r["efficiency"] for r in strong], marker="o", label="strong")
    ax.plot([r["ranks"] for r in weak], [r["efficiency"] for r in weak], marker="s", label="weak")
    ax.axhline(1.0, linestyle="--", color="grey")
    ax.axvline(m["cores"], color="tab:red", alpha=0.4, label=f"{m['cores']} cores")
    ax.set(xlabel="ranks", ylabel="parallel efficiency", title=f"{m['algorithm']}: efficiency",
           xticks=ranks, ylim=(0, max(1.2, max(r["efficiency"] for r in strong + weak) * 1.1)))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(out / "efficiency.png")
    names.append("efficiency.png")

    fig = _figure(9.6, 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, rows, kind in ((axes[0], strong, "strong"), (axes[1], weak, "weak")):
        x = list(range(len(rows)))
        bottom = [0.0] * len(rows)
        for key, colour in (("compute_s", "tab:blue"), ("comm_s", "tab:orange"), ("wait_s", "tab:red")):
            vals = [r[key] for r in rows]
            ax.bar(x, vals, bottom=bottom, color=colour, label=key[:-2])
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set(xticks=x, xticklabels=[str(r["ranks"]) for r in rows], xlabel="ranks",
               title=f"{kind} scaling: time per iteration")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("seconds (each part: max over ranks)")
    axes[0].legend()
    fig.savefig(out / "breakdown.png")
    names.append("breakdown.png")

    if "planner" in results:
        pl = results["planner"]
        fig = _figure(7.2, 4.8)
        ax = fig.subplots()
        for i, t in enumerate(pl["topologies"]):
            ax.plot(pl["ranks"], pl["mean"][t], marker="o", color=f"C{i}", label=f"{t} (mean)")
            ax.plot(pl["ranks"], pl["max"][t], linestyle=":", color=f"C{i}", label=f"{t} (max)")
        ax.set(xscale="log", yscale="log", xlabel="ranks (simulated)", ylabel="bytes sent per rank per iteration",
               title=f"IBM1 C-step bytes per rank, {pl['pairs_per_rank']} sentence pairs per rank")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize="small", ncol=2)
        ax.grid(alpha=0.3, which="both")
        fig.savefig(out / "bytes_per_rank.png")
        names.append("bytes_per_rank.png")
    return names
