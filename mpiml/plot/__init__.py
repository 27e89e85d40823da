"""Figures of training runs from their JSON-lines progress logs.

:mod:`.logs` reads the logs (pure Python); :mod:`.figures` draws them with
matplotlib, an optional extra (``pip install 'mpiml[plot]'``), imported only
when a figure is drawn.
"""

from .figures import KINDS, PLOT_EXTRA_MESSAGE, MissingExtra, render  # noqa: F401
from .logs import Run, load, read_runs  # noqa: F401
