"""Handing worker outcomes to an asyncio loop in batches.

Each finished call must reach its loop. ``loop.call_soon_threadsafe`` per
outcome costs the worker a write to the loop's self-pipe (a system call,
around which the GIL is released and must be taken back) and the loop one
more callback. Under load many calls finish while the loop is busy, so a
:class:`LoopInbox` collects them and asks the loop once for all of them.

The mechanism is a deque (``append`` and ``popleft`` are atomic) and one
flag, no lock. Workers append an outcome, then schedule a drain unless
``_scheduled`` is set; a drain clears ``_scheduled`` *before* it pops
anything, then pops until the deque is empty. Invariant: when ``_scheduled``
is true, a drain that has not yet started is pending on the loop. So an
outcome appended while ``_scheduled`` is true is popped by that drain; one
appended after a drain cleared the flag is popped by it or schedules the
next. Two workers may both schedule a drain: the second finds little or
nothing, which costs a callback and loses nothing. Outcomes are delivered
in the order they were appended, once each: a ``deliver`` interrupted (by
KeyboardInterrupt) is called again, and every ``deliver`` of motorlike's
does nothing once its waiter is done.

The inbox lives on its loop (an attribute), not in a global table: a loop
closed with a drain pending then takes its outcomes with it when it is
collected.
"""

from __future__ import annotations

import collections
from typing import Any, Callable

from motorlike._pool import deliver_safely

_Deliver = Callable[[Any, Any, "BaseException | None"], None]
_ATTRIBUTE = "_motorlike_inbox"


class LoopInbox:
    """What the worker pool calls ``call_soon_threadsafe`` on, for one loop."""

    __slots__ = ("_loop", "_items", "_scheduled")

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self._items: collections.deque = collections.deque()
        self._scheduled = False

    def call_soon_threadsafe(self, deliver: _Deliver, waiter: Any, result: Any, error: BaseException | None) -> None:
        """Deliver on the loop, soon; RuntimeError if the loop is closed."""
        self._items.append((deliver, waiter, result, error))
        if self._scheduled:
            if self._loop.is_closed():  # its pending drain will never run
                self._discard()
                raise RuntimeError("Event loop is closed")
            return
        self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except BaseException:
            # Closed: nobody waits there any more, as for asyncio's own.
            self._discard()
            raise

    def _discard(self) -> None:
        self._scheduled = False
        self._items.clear()

    def _drain(self) -> None:
        self._scheduled = False  # first: see the module docstring
        items = self._items
        try:
            # Each outcome leaves the deque only once delivered (only a drain
            # pops, and drains run one at a time, on the loop): a delivery
            # interrupted by KeyboardInterrupt is made again by the next drain,
            # and a ``deliver`` does nothing for a waiter already done.
            while items:
                deliver, waiter, result, error = items[0]
                try:
                    deliver_safely(deliver, waiter, result, error)
                except Exception as exc:  # noqa: BLE001 - the waiter was done already; one bad delivery must not cost the others
                    self._loop.call_exception_handler(
                        {"message": "motorlike: an outcome could not be delivered", "exception": exc}
                    )
                items.popleft()
        except BaseException:
            # KeyboardInterrupt and the like end the loop's run; what is
            # left is delivered when it runs again.
            if self._items and not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._drain)
            raise

    def __len__(self) -> int:
        return len(self._items)


def inbox_for(loop: Any) -> Any:
    """``loop``'s inbox; ``loop`` itself if it cannot carry one (uvloop's)."""
    inbox = getattr(loop, _ATTRIBUTE, None)
    if inbox is None:
        inbox = LoopInbox(loop)
        try:
            setattr(loop, _ATTRIBUTE, inbox)
        except AttributeError:
            return loop
    return inbox
