"""How ranks share parameters: one table interface, several consistency models.

``make_table(comm, kind, n_rows, width, staleness=..., every=...)`` returns a
:class:`~mpiml.consistency.base.Table` whose ``get``/``inc``/``clock`` follow

=========  ==================================================================
``bsp``    replicated rows, one Allreduce per clock (staleness 0)
``ssp``    rows in RMA windows, reads at most ``staleness`` clocks stale
``essp``   the SSP bound, each clock's updates pushed into the readers' replicas
``async``  RMA windows, no bound (staleness = infinity)
``average`` local replicas averaged every ``every`` clocks
=========  ==================================================================

so an algorithm written once runs under any of them by changing one flag.
What the RMA models rely on from MPI is listed in :mod:`mpiml.comm.rma`.
"""

from __future__ import annotations

from .base import STALE_BINS, StalenessViolation, Table
from .settings import BOUNDED, KINDS, ConsistencySettings


def make_table(comm, kind: str, n_rows: int, width: int, staleness: int | None = 0,
               every: int = 1, debug: bool = False, name: str = "table") -> Table:
    """Collective.  A table of ``n_rows x width`` zeros under consistency ``kind``.

    Parameters
    ----------
    kind : one of ``KINDS``
    staleness : bound ``s`` for ``ssp`` and ``essp`` (ignored otherwise)
    every : averaging period in clocks for ``average``
    debug : check the staleness bound on every read (raises
        :class:`StalenessViolation`)
    name : label in communication statistics and messages
    """
    # The same declaration (and messages) as the command line's options.
    if staleness is None and kind not in BOUNDED:
        staleness = 0
    ConsistencySettings(consistency=kind, staleness=staleness, every=every, debug_staleness=bool(debug))
    comm.check_same((kind, int(n_rows), int(width), staleness if kind in BOUNDED else None,
                     int(every) if kind == "average" else None, bool(debug)), f"table {name!r} settings")
    if kind == "bsp":
        from .bsp import BSPTable
        return BSPTable(comm, n_rows, width, debug=debug, name=name)
    if kind == "average":
        from .averaging import AveragingTable
        return AveragingTable(comm, n_rows, width, every=every, debug=debug, name=name)
    if kind == "ssp":
        from .ssp import SSPTable
        return SSPTable(comm, n_rows, width, int(staleness), debug=debug, name=name)
    if kind == "essp":
        from .essp import ESSPTable
        return ESSPTable(comm, n_rows, width, int(staleness), debug=debug, name=name)
    from .asynchronous import AsyncTable
    return AsyncTable(comm, n_rows, width, debug=debug, name=name)


__all__ = ["BOUNDED", "ConsistencySettings", "KINDS", "STALE_BINS", "StalenessViolation", "Table", "make_table"]
