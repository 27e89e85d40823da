"""``python -m mpiml`` (under MPI: ``python -m mpi4py -m mpiml``)."""


from .cli import run

run()
