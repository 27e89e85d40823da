"""The consistency options, declared once for every algorithm that keeps its
parameters in a table (:func:`mpiml.consistency.make_table`).

An algorithm's settings class derives from :class:`ConsistencySettings` to
get ``--consistency``, ``--staleness``, ``--every`` and ``--debug-staleness``
with their validation; :func:`make_table` validates its arguments with the
same declaration, so the list of models and the bounds live here only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, option

# The consistency models, in the order --help lists them.
KINDS = ("bsp", "ssp", "essp", "async", "average")
# The models whose reads obey a staleness bound.
BOUNDED = ("ssp", "essp")


@dataclass(frozen=True)
class ConsistencySettings(Settings):
    consistency: str = option("bsp", choices=KINDS, group="consistency",
                              help="how ranks share the parameters: bsp (one Allreduce per clock), "
                                   "ssp/essp (RMA windows, reads at most --staleness clocks stale), "
                                   "async (no bound) or average (local models averaged every --every "
                                   "clocks)")
    staleness: int = option(3, low=0, group="consistency", only_if=("consistency", BOUNDED),
                            help="staleness bound s for ssp/essp, in clocks")
    every: int = option(10, low=1, group="consistency", only_if=("consistency", ("average",)),
                        help="averaging period in clocks for --consistency average")
    debug_staleness: bool = option(False, group="consistency",
                                   help="check the staleness bound on every read (fails loudly if it "
                                        "is violated)")

    def consistency_label(self) -> str:
        """How the banner names the chosen model, e.g. ``ssp (staleness 3)``."""
        return {"ssp": f"ssp (staleness {self.staleness})", "essp": f"essp (staleness {self.staleness})",
                "async": "async (staleness unbounded)",
                "average": f"model averaging every {self.every} clocks"}.get(self.consistency,
                                                                           self.consistency)
