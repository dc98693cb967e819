"""The thread bridge: blocking PyMongo calls run on worker threads, their
outcomes delivered to the caller's event loop.

Its parts: the process-wide worker pool and the per-client lanes that share
its threads (:mod:`motorlike._pool`, where the policy is written down), the
per-object order of calls on PyMongo objects that are not thread-safe
(strands, :mod:`motorlike._strand`, used through
:class:`SerializedWorkerCalls` here), and calls nobody has to wait for
(:class:`BackgroundCall`). Each framework (motorlike.frameworks) says how a
result reaches its loop; the pool only calls ``call_soon_threadsafe`` on what
the framework gives it.

The guarantees, all of them (doc/reliability.md tests each):

* calls on one cursor, change stream, GridFS file or session run one at a
  time in the order they were made, awaited or not; a call waiting its turn
  holds no thread; state changes (seek, close, rewind, prefetch,
  killCursors) take their turn like any call;
* a call that started runs to completion on its thread; a caller that gives
  up only drops the outcome (a cursor's documents stay for the next reader);
* every outcome reaches its caller: an error raised by a call, or found by a
  background fetch, is raised to the first caller that needs what it was
  fetching; ``StopIteration`` becomes RuntimeError; a ``deliver`` that fails
  fails the future;
* one client's calls beyond what its connection pool can serve wait in that
  client's lane, not as threads; a client with nothing running always gets a
  thread, so one stuck client never delays another;
* ``client.close()`` refuses new calls at once; ``cursor.close()`` never
  waits for a prefetch nobody asked for; objects do not cross ``fork()``.
"""

from __future__ import annotations

import _thread  # noqa: F401 - tests stand in for its start_new_thread
import atexit
import concurrent.futures
import os
import threading
from typing import Any, Callable

from motorlike import _affinity
from motorlike._pool import (  # noqa: F401 - the bridge's public names
    DEFAULT_MAX_THREADS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_QUEUE_WAIT_MS,
    IDLE_TIMEOUT,
    Lane,
    WorkerPool,
    WorkerThreadsExhausted,
    deliver_safely,
    deliver_to_future,
)
from motorlike._strand import Strand

placement_mode_from_environment = _affinity.placement_mode_from_environment


def _positive_int_from_environment(names: tuple[str, ...], default: int) -> int:
    for variable in names:
        raw = os.environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a positive integer, not {raw!r}") from None
        if value < 1:
            raise ValueError(f"{variable} must be a positive integer, not {raw!r}")
        return value
    return default


def max_workers_from_environment() -> int:
    """Read ``MOTORLIKE_MAX_WORKERS``, falling back to ``MOTOR_MAX_WORKERS``."""
    return _positive_int_from_environment(("MOTORLIKE_MAX_WORKERS", "MOTOR_MAX_WORKERS"), DEFAULT_MAX_WORKERS)


def max_threads_from_environment() -> int:
    """Read ``MOTORLIKE_MAX_THREADS``, the pool's hard ceiling on threads."""
    return _positive_int_from_environment(("MOTORLIKE_MAX_THREADS",), DEFAULT_MAX_THREADS)


def queue_wait_from_environment() -> float:
    """Read ``MOTORLIKE_QUEUE_WAIT_MS``; returns seconds."""
    return _positive_int_from_environment(("MOTORLIKE_QUEUE_WAIT_MS",), DEFAULT_QUEUE_WAIT_MS) / 1000


def client_lane(client: Any) -> Lane:
    """A new lane for a motorlike client's calls (AgnosticBase._lane keeps it,
    one per client and pool)."""
    with _lanes_lock:  # two threads' first calls must not make two lanes
        cached = client.__dict__.get("_motorlike_lane")
        if cached is not None and cached[0] is _pool:
            return cached[1]
        return get_pool().new_lane(client.delegate)


_lanes_lock = threading.Lock()


def lane_of(owner: Any) -> Lane | None:
    """The lane of ``owner``'s client; None (the default lane) for objects
    that stand in for motorlike ones without one (mongomock-motor's)."""
    method = getattr(type(owner), "_lane", None)
    return None if method is None else method(owner)


# ---------------------------------------------------------------------------
# One call at a time per PyMongo object


class SerializedWorkerCalls:
    """Mixin for declarations whose PyMongo delegate is not thread-safe.

    Each instance owns a strand (:mod:`motorlike._strand`): every worker
    call on it, generated or hand-written, runs in the order it was made,
    one at a time, whatever loops and threads make them.
    """

    _strand: Strand

    def _init_strand(self) -> None:
        self._strand = Strand()

    def _run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        loop: Any = None,
        deliver: Callable[[Any, Any, BaseException | None], None] = deliver_to_future,
        future: Any = None,
    ) -> Any:
        """A future on ``loop`` (default: this object's) of ``fn(*args)``, run in turn.

        ``deliver(future, result, error)`` runs on the loop when the call is
        over; the default resolves the future unless its waiter gave up.
        ``future``: one made by the caller on ``loop`` (to_list's returnable one).
        """
        if loop is None:
            loop = self.get_io_loop()  # type: ignore[attr-defined]
        return self._framework.submit(  # type: ignore[attr-defined]
            loop, fn, args, {}, deliver, future, lane=self._lane(), strand=self._strand  # type: ignore[attr-defined]
        )

    def _run_in_background(self, fn: Callable[..., Any], *args: Any) -> BackgroundCall:
        """``fn(*args)`` in turn on this object's strand, awaited or not (a
        close, a kill, a prefetch), in its client's lane. It needs no loop,
        and runs after ``client.close()`` too."""
        return BackgroundCall(
            fn, *args, strand=self._strand, lane=self._lane(), framework=self._framework  # type: ignore[attr-defined]
        )

    def _close_in_turn(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` (a close) in turn on the strand; an awaitable that
        waits for it only if no call made before is still running: a close
        never waits for a prefetch nobody asked for, nor for a call whose
        caller gave up on a silent server."""
        nothing_ahead = self._strand.idle
        closing = self._run_in_background(fn, *args)
        return closing if nothing_ahead else nothing_to_wait_for()


class _NothingToWaitFor:
    """Awaitable that is done at once (a close left to run in the background)."""

    __slots__ = ()

    def __await__(self) -> Any:
        return None
        yield  # a generator: awaiting it needs no loop

    def done(self) -> bool:
        return True

    def result(self) -> None:
        return None


def nothing_to_wait_for() -> Any:
    return _NOTHING


_NOTHING = _NothingToWaitFor()


# ---------------------------------------------------------------------------
# Calls nobody has to wait for

#: Seconds the interpreter waits at exit for a ``client.close()`` nobody
#: awaited (never for a prefetch or a kill nobody asked for).
EXIT_WAIT = 5.0
_pending: set[concurrent.futures.Future] = set()


class BackgroundCall:
    """A PyMongo call running on the pool that its caller may await, or not.

    ``client.close()`` returns one: Motor code calls ``close()`` without
    ``await`` and goes on at once, while ``await client.close()`` waits for
    the server-side cleanup. Awaitable, any number of times, with the
    framework it was made for; it is not a coroutine, so leaving it
    unawaited warns nothing.
    """

    __slots__ = ("_future", "_framework")

    def __init__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        strand: Strand | None = None,
        lane: Lane | None = None,
        framework: Any = None,
        wait_at_exit: bool = False,
    ) -> None:
        """Start ``fn(*args)`` now, in ``lane`` (default: the pool's own; a
        closed client's too: it cleans up), after the earlier calls of
        ``strand`` if given. With ``wait_at_exit`` the interpreter waits for
        it (up to EXIT_WAIT)."""
        #: How to await it (see motorlike.frameworks); None: not awaitable.
        self._framework = framework
        self._future: concurrent.futures.Future = concurrent.futures.Future()
        # Running from the start: nobody can cancel it, so the call always
        # runs, and an awaiter that gives up cancels only its own wait.
        self._future.set_running_or_notify_cancel()
        if wait_at_exit:
            _pending.add(self._future)
            self._future.add_done_callback(_pending.discard)
        try:
            get_pool().submit(
                None, self._future, fn, args, {}, _resolve_concurrent_future, lane=lane, strand=strand, cleanup=True
            )
        except BaseException:
            _pending.discard(self._future)
            raise

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Any:
        """Block until done (not on an event loop!); the call's result or exception."""
        return self._future.result(timeout)

    def __await__(self) -> Any:
        if not self._future.done():
            if self._framework is None:
                raise TypeError("this BackgroundCall was made without a framework to await it with")
            # Giving up this wait leaves the call running.
            yield from self._framework.wait_concurrent(self._future).__await__()
        return self._future.result()

    def __repr__(self) -> str:
        return f"<BackgroundCall {'done' if self._future.done() else 'running'}>"


def _resolve_concurrent_future(future: concurrent.futures.Future, result: Any, error: BaseException | None) -> None:
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _wait_for_background_calls() -> None:
    if _pending:
        concurrent.futures.wait(list(_pending), timeout=EXIT_WAIT)


atexit.register(_wait_for_background_calls)


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> WorkerPool:
    """The process's pool, created on first use from the environment."""
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = WorkerPool(
                    max_workers_from_environment(), max_threads_from_environment(), queue_wait_from_environment()
                )
            pool = _pool
    return pool


def _reset_after_fork() -> None:
    # Threads do not survive fork(); a child must start a fresh pool.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()
    _pending.clear()  # their threads are gone


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
