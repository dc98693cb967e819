"""Handing worker outcomes to an asyncio loop in batches.

Each finished call must reach its loop. ``loop.call_soon_threadsafe`` per
outcome costs the worker a write to the loop's self-pipe (a system call,
around which the GIL is released and must be taken back) and the loop one
more callback. Under load many calls finish while the loop is busy, so an
:class:`LoopInbox` collects them and asks the loop once for all of them.

Invariant, kept under ``_lock``: while ``_scheduled`` is true exactly one
``_drain`` is pending on the loop, and it will deliver every item that is in
``_items`` when it runs; ``_scheduled`` is false only when no drain is
pending. Items are delivered once each, in the order they were put.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Callable

_Deliver = Callable[[Any, Any, "BaseException | None"], None]


class LoopInbox:
    """What the worker pool calls ``call_soon_threadsafe`` on, for one loop."""

    __slots__ = ("_loop_ref", "_lock", "_items", "_scheduled", "__weakref__")

    def __init__(self, loop: Any) -> None:
        # Weak: the inbox is the value of a dict keyed weakly by the loop.
        self._loop_ref = weakref.ref(loop)
        self._lock = threading.Lock()
        self._items: list[tuple] = []
        self._scheduled = False

    def call_soon_threadsafe(self, deliver: _Deliver, waiter: Any, result: Any, error: BaseException | None) -> None:
        """Deliver on the loop, soon; RuntimeError if the loop is closed (or gone)."""
        with self._lock:
            self._items.append((deliver, waiter, result, error))
            if self._scheduled:
                return  # the pending drain will take it
            self._scheduled = True
        loop = self._loop_ref()
        try:
            if loop is None:
                raise RuntimeError("the event loop is gone")
            loop.call_soon_threadsafe(self._drain)
        except BaseException:
            # Closed: nobody waits there any more. Drop what is queued and
            # let a later put try again (and fail the same way).
            with self._lock:
                self._items.clear()
                self._scheduled = False
            raise

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
        for index, (deliver, waiter, result, error) in enumerate(items):
            try:
                deliver(waiter, result, error)
            except Exception as exc:  # noqa: BLE001 - one bad delivery must not cost the others
                logging.getLogger("motorlike").error("motorlike: an outcome could not be delivered", exc_info=exc)
            except BaseException:
                # KeyboardInterrupt and the like end the loop's run: the rest
                # go back to the front, for when the loop runs again.
                rest = items[index + 1 :]
                if rest:
                    self._put_back(rest)
                raise

    def _put_back(self, rest: list[tuple]) -> None:
        with self._lock:
            self._items[:0] = rest
            if self._scheduled:
                return
            self._scheduled = True
        loop = self._loop_ref()
        if loop is not None:
            loop.call_soon(self._drain)

    def __len__(self) -> int:
        return len(self._items)


_inboxes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_inboxes_lock = threading.Lock()


def inbox_for(loop: Any) -> Any:
    """``loop``'s inbox; ``loop`` itself if it cannot be weakly referenced (uvloop)."""
    try:
        inbox = _inboxes.get(loop)
    except TypeError:  # not hashable
        return loop
    if inbox is not None:
        return inbox
    with _inboxes_lock:
        inbox = _inboxes.get(loop)
        if inbox is None:
            try:
                inbox = _inboxes[loop] = LoopInbox(loop)
            except TypeError:
                return loop
    return inbox


def _reset_after_fork() -> None:
    # A lock held by a thread that fork() did not copy would never be freed.
    global _inboxes, _inboxes_lock
    _inboxes = weakref.WeakKeyDictionary()
    _inboxes_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
