"""The change stream declaration (PyMongo's ``ChangeStream``).
"""

from __future__ import annotations

import collections
from typing import Any, Mapping

from pymongo.synchronous.change_stream import ChangeStream
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike._bridge import lane_of
from motorlike.metaprogramming import (
    AgnosticBase,
    SerializedWorkerCalls,
    unwrap_arguments,
    wraps_pymongo,
)


# ---------------------------------------------------------------------------
# Change streams


@wraps_pymongo(ChangeStream)
class AgnosticChangeStream(SerializedWorkerCalls, AgnosticBase):
    """A change stream, opened on first use.

    Each wait for a change is one ``try_next`` on a worker, bounded by the
    server's ``maxAwaitTimeMS``; between waits no thread is held, so a
    stream that sees no changes for hours costs no worker. PyMongo resumes
    the stream after a resumable error (a dropped connection ...).
    """

    __motor_class_name__ = "MotorChangeStream"
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, target: Any, pipeline: Any, options: Mapping[str, Any]) -> None:
        super().__init__(None)
        _, options = unwrap_arguments((), dict(options))
        self._watched = target
        self._watch_pipeline = pipeline
        self._watch_options = options
        self._close_requested = False
        # Changes fetched by a worker and not yet handed out: appended by
        # the strand's calls, popped by readers (as cursors' _Fetched).
        self._received: collections.deque = collections.deque()
        self._init_strand()

    def get_io_loop(self) -> Any:
        return self._watched.get_io_loop()

    def _find_lane(self) -> Any:
        return lane_of(self._watched)

    def _open_on_worker(self) -> Any:
        if self.delegate is None and not self._close_requested:
            self.delegate = self._watched.delegate.watch(self._watch_pipeline, **self._watch_options)
        return self.delegate

    def _try_next_on_worker(self) -> None:
        # The change is left for the loop thread to take, so one whose
        # waiter was cancelled (wait_for(stream.next(), t)) is not lost.
        if self._received or self._close_requested:
            return  # an earlier, abandoned call already fetched one; or closed meanwhile
        change = self._open_on_worker().try_next()
        if change is not None:
            self._received.append(change)

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The token to resume after the last change seen; None before the stream opens."""
        return None if self.delegate is None else self.delegate.resume_token

    @property
    def alive(self) -> bool:
        """False once the stream is closed or has failed for good."""
        if self._close_requested:
            return False
        return True if self.delegate is None else self.delegate.alive

    def _take(self) -> Any:
        try:
            return self._received.popleft()
        except IndexError:  # empty, or a reader on another thread took it
            return None

    async def try_next(self) -> _DocumentType | None:
        """The next change, or None if none came within one server wait or the stream is closed."""
        change = self._take()
        if change is not None or self._close_requested:
            # After close(), PyMongo and Motor document None; next() ends on alive.
            return change
        await self._run(self._try_next_on_worker)
        return self._take()

    async def next(self) -> _DocumentType:
        """Wait for the next change; raises StopAsyncIteration once closed."""
        while self.alive:
            change = await self.try_next()
            if change is not None:
                return change
        raise StopAsyncIteration

    __anext__ = next

    def __aiter__(self) -> AgnosticChangeStream[_DocumentType]:
        return self

    async def close(self) -> None:
        """Close the stream and kill its server cursor."""
        if self._close_requested:
            return
        self._close_requested = True
        # In turn, after the calls made before; it runs even if we stop waiting.
        await self._close_in_turn(self._close_on_worker)

    def _close_on_worker(self) -> None:
        # In turn on the strand: an open made before has set delegate by now.
        if self.delegate is not None:
            self.delegate.close()

    async def __aenter__(self) -> AgnosticChangeStream[_DocumentType]:
        await self._run(self._open_on_worker)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __enter__(self) -> Any:
        raise RuntimeError(f"use 'async with' with {type(self).__name__}, not 'with'")

    def __exit__(self, *exc_info: Any) -> None:
        """Never reached: __enter__ refuses."""
