"""A serving process's startup heap is out of the full collection's walk."""

from __future__ import annotations

import gc

from fxmesh.lifecycle import freeze_startup_heap


def test_freeze_when_service_serves_then_startup_objects_are_not_walked_by_collections() -> None:
    startup_cache = [{"symbol": "EURUSD"}]  # what a service loads before it serves
    assert any(o is startup_cache for o in gc.get_objects())
    try:
        freeze_startup_heap()

        assert gc.get_freeze_count() > 0
        assert not any(o is startup_cache for o in gc.get_objects())
        later = [{"symbol": "GBPUSD"}]
        assert any(o is later for o in gc.get_objects())  # made after start: collected as ever
    finally:
        gc.unfreeze()
