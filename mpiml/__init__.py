"""mpiml: machine learning with MPI on HPC clusters.

Importing this package never initialises MPI; only :mod:`mpiml.comm` imports
mpi4py, and only when a communicator is first requested.
"""

__version__ = "0.1.0"

from .errors import (CheckpointError, CollectiveError, ConfigError, InputError,  # noqa: F401
                     MpimlError, NumericalError, WatchdogTimeout)

__all__ = ["__version__", "MpimlError", "InputError", "ConfigError", "CheckpointError",
           "CollectiveError", "NumericalError", "WatchdogTimeout"]
