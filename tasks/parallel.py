"""One function over several nodes at once, that Ctrl-C can stop.

A ThreadPoolExecutor waits for its threads when the block ends and again when
the interpreter exits, so Ctrl-C during a node's boot or a volume copy would
hang until every engine call returned. These threads are daemons: the main
thread waits for them interruptibly, and an interrupted run leaves them behind
(the engine finishes or drops their calls; the next `up` repairs the nodes).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from tasks.console import Tally

T = TypeVar("T")
R = TypeVar("R")


def each(function: Callable[[T], R], items: Iterable[T], doing: str = "") -> list[R]:
    """function(item) for every item in its own thread; the results in order.

    The first exception (in the order of items) is raised once all have
    ended; KeyboardInterrupt is raised at once. doing ("booting", ...) shows
    on the step's line which items are under way and how many are done."""
    items = list(items)
    results: list = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)
    tally = Tally(doing, [_name(item) for item in items]) if doing else None

    def run(index: int, item: T) -> None:
        try:
            with tally.each(_name(item)) if tally else contextlib.nullcontext():
                results[index] = function(item)
        except BaseException as err:
            errors[index] = err

    threads = [threading.Thread(target=run, args=(i, item), daemon=True) for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # a short join keeps the main thread ready for signals
    for error in errors:
        if error is not None:
            raise error
    return results


def _name(item) -> str:
    # Nodes come as NodeSpecs or as their names.
    return getattr(item, "name", None) or str(item)
