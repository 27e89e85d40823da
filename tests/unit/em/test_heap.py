"""release_free_heap finds glibc's malloc_trim where glibc is the C library."""

import platform
import sys

import pytest

from mpiml.em import heap


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is a glibc function")
def test_malloc_trim_is_found_and_called_on_glibc():
    heap._trim = None
    # 20 MB in 100 kB blocks (below the mmap threshold, so on the heap), then
    # freed: the trim has whole free pages to return
    blocks = [bytearray(100_000) for _ in range(200)]
    del blocks
    assert isinstance(heap.release_free_heap(), bool)
    assert callable(heap._trim), "malloc_trim was not resolved on a glibc system"
