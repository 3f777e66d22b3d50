"""Give memory the driver has freed back to the operating system between Ray Data executions."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Collect Python's reference cycles, then ask glibc to return its free pages.

    An execution's operators and stats form reference cycles that hold the refs of its small
    blocks (kept in this process's object store) until Python's next full collection; and glibc
    keeps what Ray's and Arrow's native code free in its heaps, so without a trim the driver's
    resident memory keeps the high-water mark of every execution so far."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
