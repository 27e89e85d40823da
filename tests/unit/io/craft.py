"""Crafting damaged or hostile checkpoints for tests.

``reseal`` rewrites a checkpoint's manifest to match its files as they are
now, the way someone who edits a checkpoint on purpose would; the checks that
must still catch such a checkpoint are confinement, structure and shape
checks, not checksums.  Against code without manifests it does nothing.
"""

import json
from pathlib import Path


def reseal(ckdir, arrays=None, files=None) -> None:
    try:
        from mpiml.io import manifest as mf
    except ImportError:
        return
    ckdir = Path(ckdir)
    doc = json.loads((ckdir / mf.MANIFEST).read_text())
    names = files if files is not None else list(doc["files"])
    doc["files"] = {n: mf.whole_file(ckdir / n) for n in names}
    if arrays:
        doc["arrays"].update(arrays)
    mf.write_manifest(ckdir, {k: v for k, v in doc.items() if k not in ("self_crc32", "format")})


def data_offset(path, name) -> int:
    import h5py
    with h5py.File(path, "r") as f:
        return f[name].id.get_offset()


def flip(path, offset, mask=0x01) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ mask]))
