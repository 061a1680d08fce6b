"""Keep freed array memory in the process, so each feed tick does not fault in fresh pages.

A tick allocates and frees many temporaries of a few megabytes. glibc returns blocks
that large to the kernel on every free (they are mmapped, or trimmed off the heap), and
the next tick faults the pages back in, zeroed. Raising the mmap and trim thresholds keeps
them on the heap for reuse. One arena serves every thread: the world's follow graph and the
seen filter's additions run on another thread, and memory kept in an arena of their own
would never be reused by the ticks (78 MB more at `make bench`'s peak). Other C libraries
are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
_MMAP_THRESHOLD = 256 << 20  # blocks above this are still mmapped: whole-run tables
_TRIM_THRESHOLD = 1 << 30
_TOP_PAD = 256 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's malloc once per process; False where it is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    for option, value in (
        (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
        (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
        (_M_TOP_PAD, _TOP_PAD),
        (_M_ARENA_MAX, 1),
    ):
        libc.mallopt(option, value)
    return True
