"""Start-up memory habits for a hundred thousand households.

Building the registry and the engine creates millions of long-lived objects. With the cyclic
garbage collector on, each of its passes rescans everything built so far: at 100,000
households that was about 70 % of the start-up time. :func:`bulk_build` switches it off for
the build and then *freezes* what was built (``gc.freeze``), so later collections skip the
long-lived state entirely. :func:`release_freed_memory` hands the heap freed during the build
back to the operating system (glibc keeps it otherwise), so resident memory shows what is
really held.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def bulk_build(*, freeze: bool = True) -> Iterator[None]:
    """Build long-lived state without the cyclic collector; with ``freeze``, move everything
    alive afterwards to the permanent generation (collections ignore it from then on).

    Freezing is for the start-up state that lives as long as the process. Before replacing
    frozen state (a reload), call :func:`thaw` so the old state's cycles can be collected.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def thaw() -> None:
    """Make frozen objects collectable again (before the state built at start-up is replaced)."""
    gc.unfreeze()


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS (glibc ``malloc_trim``); False where unavailable."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS)
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))
