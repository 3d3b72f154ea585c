"""Planning allocates many short-lived syntax trees; a full garbage collection that happens to
start meanwhile walks every object of the process (a loaded model has many) and can take
hundreds of milliseconds. Planning therefore runs with automatic collection paused; the
garbage is collected after, as part of the query's work, not of its planning.

>>> with paused_gc():
...     pass
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause automatic garbage collection inside the block (restored as it was after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
