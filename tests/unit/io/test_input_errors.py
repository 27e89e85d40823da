"""Issue 10, 'also seen': a PermissionError on any input is an InputError
(exit 2) naming the file, for every reader; numpy's advice to unpickle a
file is never shown."""

import builtins

import numpy as np
import pytest

from mpiml.comm.serial import SerialComm
from mpiml.errors import InputError
from mpiml.io.dense import read_dense
from mpiml.io.libsvm import read_libsvm
from mpiml.mf.data import read_ratings


@pytest.fixture
def deny(monkeypatch):
    """Make opening one path fail as for a file without read permission
    (tests run as root here, where chmod 000 does not stop reading)."""
    real = builtins.open
    denied = set()

    def fake(file, *a, **k):
        if str(file) in denied:
            raise PermissionError(13, "Permission denied", str(file))
        return real(file, *a, **k)
    monkeypatch.setattr(builtins, "open", fake)
    return denied


@pytest.mark.parametrize("name,reader", [
    ("X.npy", lambda p: read_dense(SerialComm(), p)),
    ("X.csv", lambda p: read_dense(SerialComm(), p)),
    ("d.libsvm", lambda p: read_libsvm(SerialComm(), p)),
    ("r.tsv", lambda p: read_ratings(SerialComm(), p, "auto")),
])
def test_permission_denied_is_an_input_error(tmp_path, deny, name, reader):
    p = tmp_path / name
    if name.endswith(".npy"):
        np.save(p, np.ones((3, 2)))
    elif name.endswith(".csv"):
        p.write_text("1,2\n3,4\n")
    elif name.endswith(".libsvm"):
        p.write_text("1 1:0.5\n0 2:1.5\n")
    else:
        p.write_text("1\t2\t3.0\n2\t1\t4.0\n")
    deny.add(str(p))
    with pytest.raises(InputError, match=rf"{name}: cannot open: Permission denied") as info:
        reader(p)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("kind", ["object-array", "raw-pickle"])
def test_pickled_npy_gets_no_allow_pickle_advice(tmp_path, kind):
    import pickle
    p = tmp_path / "X.npy"
    if kind == "object-array":
        np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    else:
        p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(InputError) as info:
        read_dense(SerialComm(), p)
    assert "allow_pickle" not in str(info.value)
    assert "pickled Python objects, which are never loaded" in str(info.value)
