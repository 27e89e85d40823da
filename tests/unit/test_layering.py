"""House rules on dependencies, checked by parsing every module's imports."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "mpiml"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def modules():
    return sorted(PKG.rglob("*.py"))


def test_there_are_modules_to_check():
    assert len(modules()) > 20


def test_mpi4py_only_in_comm():
    bad = [str(p.relative_to(PKG)) for p in modules()
           if "mpi4py" in imports_of(p) and p.relative_to(PKG).parts[0] != "comm"]
    assert bad == [], f"mpi4py imported outside mpiml/comm: {bad}"


def test_h5py_only_in_io():
    bad = [str(p.relative_to(PKG)) for p in modules()
           if "h5py" in imports_of(p) and p.relative_to(PKG).parts[0] != "io"]
    assert bad == [], f"h5py imported outside mpiml/io: {bad}"


def test_numba_only_in_kernel_modules():
    bad = [str(p.relative_to(PKG)) for p in modules()
           if "numba" in imports_of(p) and p.name != "kernels.py"]
    assert bad == [], f"numba imported outside kernels.py modules: {bad}"


def test_importing_mpiml_does_not_initialise_mpi():
    code = ("import sys, mpiml, mpiml.comm, mpiml.cli, mpiml.runtime.loop, mpiml.cluster.kmeans; "
            "print('mpi4py.MPI' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_training_imports_h5py_only_when_a_checkpoint_is_touched():
    """h5py (and libhdf5, ~12 MiB per rank) loads on the first checkpoint write
    or read, not when the training code is imported."""
    code = ("import sys, mpiml.cli, mpiml.cli.train, mpiml.runtime.loop, mpiml.em.model, "
            "mpiml.cluster.kmeans, mpiml.mf.model, mpiml.topics.lda, mpiml.linear.sgd, "
            "mpiml.lasso.solver, mpiml.io.checkpoint, mpiml.io.ckpt_read; "
            "print('h5py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
