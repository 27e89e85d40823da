"""Give freed heap memory back to the operating system (glibc).

glibc's malloc serves blocks below its mmap threshold from the heap, and the
threshold rises (up to 32 MB on 64-bit Linux) each time a larger mmapped
block is freed, so after setup the arrays of the reader and the planner
that were freed leave tens of MB of free but resident heap pages behind
(44 MB after setup on a 300k-pair corpus at one rank).  ``malloc_trim(0)``
returns every whole free page of the heap to the system (``madvise``), so
the E-step's own buffers do not stack on top of them.
"""

from __future__ import annotations

import ctypes
import sys

_trim = None


def release_free_heap() -> bool:
    """``malloc_trim(0)`` where glibc provides it; True if memory was released.

    A no-op (False) on other C libraries and platforms."""
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                # The interpreter is linked against the C library, so the
                # process's own symbol table has malloc_trim where glibc is
                # the C library; find_library("c") would run ldconfig or a
                # compiler in a subprocess to find the same file.
                fn = ctypes.CDLL(None).malloc_trim
                fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
                _trim = fn
            except (OSError, AttributeError):
                pass
    return bool(_trim(0)) if _trim else False
