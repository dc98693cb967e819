"""The event loop synchro owns: one per framework, on a thread of its own.

Synchronous callers hand a function to :meth:`LoopThread.call`; it runs on
the loop's thread, and if it returns an awaitable (a coroutine of a
motorlike method, a future from ``to_list`` ...) that is awaited there
too. The caller blocks until the outcome is known and gets the result or
the exception.

Running motorlike on a loop in another thread, rather than
``run_until_complete`` in the caller's, is what lets a synchronous callback
called from inside a coroutine (``with_transaction``) use synchro again:
the callback runs in a helper thread and its own calls go to the loop,
which is free because the coroutine is merely awaiting.

``contextvars`` travel with each call: the loop runs the function in a
copy of the caller's context (``call_soon_threadsafe`` copies it), and
motorlike's workers copy the loop task's. So ``with session.bind():`` in
synchronous code binds the session for the operations started inside it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import threading
from typing import Any, Callable

FRAMEWORKS = ("asyncio", "tornado")


class LoopThread:
    """A daemon thread running one event loop of the given framework."""

    def __init__(self, framework: str) -> None:
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {FRAMEWORKS}, not {framework!r}")
        self.framework = framework
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._asyncio_loop: asyncio.AbstractEventLoop | None = None
        self._io_loop: Any = None  # Tornado's IOLoop, in Tornado mode
        self._stop: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    # -- life cycle -------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._main, name=f"synchro-{self.framework}-loop", daemon=True)
            self._thread = thread
            thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise RuntimeError(f"synchro's {self.framework} loop failed to start") from self._startup_error

    def _main(self) -> None:
        self._thread_id = threading.get_ident()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._asyncio_loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the starter
            self._startup_error = exc
            self._ready.set()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        if self.framework == "tornado":
            from tornado.ioloop import IOLoop

            # Inside the running asyncio loop, Tornado hands out the IOLoop
            # wrapping it; motorlike's Tornado classes find it the same way.
            self._io_loop = IOLoop.current()
        self._ready.set()
        await self._stop.wait()

    def stop(self) -> None:
        """Stop the loop and wait for its thread (mostly for tests)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stop = self._asyncio_loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        self._ready.clear()
        self._thread_id = None

    def _forget_after_fork(self) -> None:
        # In a forked child the loop's thread is gone (threads do not survive
        # fork) and its loop belongs to the parent: start afresh on next use.
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._thread_id = None
        self._asyncio_loop = None
        self._io_loop = None
        self._stop = None
        self._startup_error = None

    @property
    def io_loop(self) -> Any:
        """The loop object motorlike sees: an asyncio loop or Tornado's IOLoop."""
        self._start()
        return self._io_loop if self.framework == "tornado" else self._asyncio_loop

    def in_loop_thread(self) -> bool:
        return self._thread_id is not None and threading.get_ident() == self._thread_id

    # -- running calls ----------------------------------------------------

    def _schedule(self, callback: Callable[[], None]) -> None:
        if self.framework == "tornado":
            self._io_loop.add_callback(callback)
        else:
            self._asyncio_loop.call_soon_threadsafe(callback)

    def _awaitable_to_future(self, awaitable: Any) -> Any:
        if self.framework == "tornado":
            from tornado import gen

            return gen.convert_yielded(awaitable)
        return asyncio.ensure_future(awaitable)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the loop; await its result if awaitable."""
        self._start()
        if self.in_loop_thread():
            raise RuntimeError(
                "a synchro call was made from synchro's own event loop thread; it would deadlock "
                "(a synchronous callback must not be run on the loop)"
            )
        outcome: concurrent.futures.Future = concurrent.futures.Future()

        def deliver(future: Any) -> None:
            if future.cancelled():
                outcome.set_exception(concurrent.futures.CancelledError())
                return
            error = future.exception()
            if error is not None:
                outcome.set_exception(error)
            else:
                outcome.set_result(future.result())

        def start() -> None:
            try:
                result = fn(*args, **kwargs)
                if not inspect.isawaitable(result):
                    outcome.set_result(result)
                    return
                future = self._awaitable_to_future(result)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome.set_exception(exc)
                return
            future.add_done_callback(deliver)

        self._schedule(start)
        return outcome.result()


_loops: dict[str, LoopThread] = {}
_loops_lock = threading.Lock()


def loop_thread(framework: str) -> LoopThread:
    """The process-wide loop thread for ``framework`` (started on first call)."""
    with _loops_lock:
        runner = _loops.get(framework)
        if runner is None:
            runner = _loops[framework] = LoopThread(framework)
        return runner


def _reset_after_fork() -> None:
    global _loops_lock
    _loops_lock = threading.Lock()
    for runner in _loops.values():
        runner._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
