"""Strands: the calls on one PyMongo object run one at a time, in the order made.

PyMongo's cursors, change streams, GridFS files and sessions are not
thread-safe, and their calls change state the next call depends on (a
cursor's position, a file's offset, the chunks a GridIn buffered). Each such
motorlike object owns a :class:`Strand`, a queue of its calls:

* a call joins its object's strand when it is *made* (on the caller's
  thread, awaited or not), so ``grid_in.write(data)`` without ``await``
  followed by ``await grid_in.close()`` writes, then closes;
* the strand hands the worker pool one call at a time: the next only when
  the one before it is over. A call waiting in a strand holds no thread;
* a waiting call whose caller gave up (cancelled) is dropped when its turn
  comes (or sooner, by the pool's watchdog); a running call finishes;
* every state change of the PyMongo object (seek, close, rewind, prefetch,
  killCursors) is a call on the strand too, so nothing touches the object
  from an event loop while a worker may hold it.

Invariant: a strand has at most one call in the worker pool (queued in a lane
or running), and ``busy`` is true exactly while it has one. The pool asks
:meth:`Strand.next_after` when that call is over (or dropped), before the
call's outcome reaches its caller: a caller that awaited its call finds the
strand idle, unless it had more calls waiting.

Objects do not survive ``os.fork()``: the thread running a parent's call is
gone in the child, so a strand made before the fork refuses calls there with
InvalidOperation instead of waiting for it forever.
"""

from __future__ import annotations

import collections
import os
import threading
from typing import Any

from pymongo.errors import InvalidOperation

#: Incremented in a forked child: strands made before are the parent's.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def fork_generation() -> int:
    return _fork_generation


class Strand:
    """The queue of calls on one PyMongo object; see the module docstring."""

    __slots__ = ("_lock", "_waiting", "_busy", "_generation", "made")

    def __init__(self) -> None:
        # Held only to add or take a call, never while one runs.
        self._lock = threading.Lock()
        self._waiting: collections.deque = collections.deque()
        self._busy = False
        self._generation = _fork_generation
        #: Calls made on this strand so far (a mark for "nothing since").
        self.made = 0

    def _check_process(self) -> None:
        if self._generation != _fork_generation:
            raise InvalidOperation(
                "this object was made before os.fork(), in the parent process: cursors, change streams, "
                "GridFS files and sessions cannot be used in a forked child; make them again there"
            )

    def add(self, job: Any) -> bool:
        """Join the strand; True if ``job`` is to run now (the strand was idle)."""
        self._check_process()
        with self._lock:
            self.made += 1
            if self._busy:
                self._waiting.append(job)
                return False
            self._busy = True
            return True

    def next_after(self, job: Any) -> Any:
        """The call to run after ``job`` (just over, or dropped), or None: then idle."""
        with self._lock:
            waiting = self._waiting
            while waiting:
                following = waiting.popleft()
                if not following.waiter.cancelled():
                    return following
            self._busy = False
            return None

    @property
    def idle(self) -> bool:
        """No call of this strand is running or waiting (InvalidOperation in a forked child)."""
        self._check_process()
        return not self._busy

    def __repr__(self) -> str:
        return f"<Strand {'busy, %d waiting' % len(self._waiting) if self._busy else 'idle'}>"
