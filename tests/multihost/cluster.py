"""The emulated hosts of :mod:`mpiml.bench.hosts`, plus running an existing
``tests/mpi`` selection with its ranks spread over them."""

from __future__ import annotations

import shlex
import sys

from mpiml.bench.hosts import REPO, SCRIPTS, Cluster as _Cluster, namespaces_permitted  # noqa: F401


class Cluster(_Cluster):
    def pytest_mpi(self, target: str, ppn: int = 2, timeout: float = 240):
        """Run a tests/mpi selection (``path -k expr``) with ``ppn`` ranks per host."""
        return self.mpiexec([sys.executable, "-m", "mpi4py", "-m", "pytest", "-p", "no:cacheprovider",
                             "--with-mpi", f"--timeout={int(timeout)}", "--timeout-method=thread",
                             "-q", *shlex.split(target)], ppn=ppn, timeout=timeout)
