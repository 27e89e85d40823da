"""Fingerprints of input files, so ``--resume`` compares content, not names.

A fingerprint is the resolved path (shown for information only), the size,
the mtime and a CRC32 over the file's bytes.  The file is cut into fixed
64 MiB pieces; rank r CRCs the pieces in its block of the file (the bytes
it just read during setup, so they are usually in its page cache), and the
per-piece CRCs, gathered in file order, are CRC-ed once more.  The result does
not depend on the number of ranks, so a run may resume on another rank count.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from ..errors import InputError
from ..partition import block_range
from .manifest import crc_file_range

PIECE = 64 << 20


def fingerprint(comm, paths: dict) -> dict:
    """Collective.  ``{option: fingerprint}`` for ``{option: path}``."""
    out = {}
    for key in sorted(paths):
        p = Path(paths[key])
        with comm.agree(f"fingerprinting {p}"):
            try:
                st = p.stat()
                n_pieces = max(1, -(-st.st_size // PIECE))
                lo, hi = block_range(n_pieces, comm.size, comm.rank)
                mine = []
                with open(p, "rb") as fh:
                    for i in range(lo, hi):
                        length = min(PIECE, st.st_size - i * PIECE)
                        mine.append(crc_file_range(fh, i * PIECE, max(length, 0)))
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror}", p) from None
        pieces = [c for part in comm.allgather_obj(mine, "fingerprint") for c in part]
        out[key] = {"path": str(p.resolve()), "size": st.st_size, "mtime": st.st_mtime,
                    "crc32": zlib.crc32(b"".join(c.to_bytes(4, "little") for c in pieces))}
    return out


def changed(recorded: dict, now: dict) -> list[str]:
    """Human descriptions of the inputs whose content differs."""
    out = []
    for key in sorted(set(recorded) | set(now)):
        a, b = recorded.get(key), now.get(key)
        opt = "--" + key.replace("_", "-")
        if a is None or b is None:
            out.append(f"{opt}: {'not given' if a is None else a.get('path')} when the checkpoint was "
                       f"written, {'not given' if b is None else b.get('path')} now")
        elif not isinstance(a, dict) or (a.get("size"), a.get("crc32")) != (b["size"], b["crc32"]):
            was = f"{a.get('size')} bytes, CRC32 {_hex(a.get('crc32'))}" if isinstance(a, dict) else "?"
            out.append(f"{opt} {b['path']}: content changed ({was} then, {b['size']} bytes, "
                       f"CRC32 {b['crc32']:08x} now; then at {a.get('path') if isinstance(a, dict) else '?'})")
    return out


def _hex(x) -> str:
    return f"{x:08x}" if isinstance(x, int) else repr(x)
