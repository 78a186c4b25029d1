"""careplug.heap: start-up state built without GC passes, frozen, and thawed for a reload."""

from __future__ import annotations

import gc

from careplug.heap import bulk_build, release_freed_memory, thaw


def test_bulk_build_pauses_the_collector_then_freezes() -> None:
    """No GC while building; afterwards the collector runs again and what was built is frozen."""
    assert gc.isenabled()
    try:
        with bulk_build():
            assert not gc.isenabled()
            built = [[i] for i in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(built)
        thaw()
        assert gc.get_freeze_count() == 0
        with bulk_build(freeze=False):
            more = [[i] for i in range(1000)]
        assert gc.isenabled() and gc.get_freeze_count() == 0 and len(more) == 1000
    finally:
        thaw()
        gc.enable()


def test_bulk_build_leaves_a_disabled_collector_disabled() -> None:
    """A caller that switched GC off itself keeps it off."""
    gc.disable()
    try:
        with bulk_build(freeze=False):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_release_freed_memory_answers() -> None:
    """On glibc it trims (True or False: whether memory went back); never raises."""
    assert release_freed_memory() in (True, False)
