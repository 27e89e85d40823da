"""``python -m mpiml`` (under MPI: ``python -m mpi4py -m mpiml``)."""

import sys

from .cli import main

sys.exit(main())
