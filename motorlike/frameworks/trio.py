"""The Trio framework: a "loop" is the run's ``trio.lowlevel.TrioToken``.

Trio has no future to resolve from another thread, so this module has its
own, :class:`TrioFuture`: the worker's outcome reaches it through the token
(``run_sync_soon``), and the task awaiting it is rescheduled with the
value. Cancellation follows the bridge's one rule: a cancelled wait only
abandons the call. The task leaves at once (a cancel scope, ``move_on_after``),
the future is marked cancelled, so a call that has not started is skipped
and one that has runs to completion on its thread with its outcome dropped.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any, Awaitable, Callable, Coroutine

try:
    import outcome
    import trio
except ImportError as missing:  # pragma: no cover - tested in a subprocess
    raise ModuleNotFoundError("motorlike's Trio classes need Trio: pip install 'motorlike[trio]'", name="trio") from missing

from motorlike._bridge import deliver_safely, deliver_to_future, get_pool

NAME = "trio"
#: Where the classes generated for this framework live.
GENERATED_MODULE = "motorlike.motor_trio"
#: Prefix of generated class names: TrioMotorClient, ...
CLASS_PREFIX = "Trio"

_PENDING, _DONE, _CANCELLED = "pending", "done", "cancelled"


class TrioFuture:
    """The outcome of one worker call, awaited by (at most) one Trio task.

    Set and read on the Trio run's thread only. ``cancelled()`` becomes true
    when the awaiting task is cancelled while it waits.
    """

    __slots__ = ("_state", "_value", "_error", "_task", "_callbacks", "_give_back")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None
        self._task: Any = None
        self._callbacks: list[Callable[[TrioFuture], Any]] = []
        #: Set by resolve(): puts the result back if nobody ever takes it.
        self._give_back: Callable[[], None] | None = None

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def set_result(self, value: Any) -> None:
        if self._state != _PENDING:
            raise RuntimeError(f"TrioFuture is already {self._state}")
        self._state, self._value = _DONE, value
        self._wake(outcome.Value(value))

    def set_exception(self, error: BaseException) -> None:
        if self._state != _PENDING:
            raise RuntimeError(f"TrioFuture is already {self._state}")
        self._state, self._error = _DONE, error
        self._wake(outcome.Error(error))

    def resolve(self, value: Any, give_back: Callable[[], None]) -> None:
        """``set_result``, and ``give_back()`` if the result is never taken."""
        self._give_back = give_back
        self.set_result(value)

    def result(self) -> Any:
        if self._state == _PENDING:
            raise RuntimeError("TrioFuture is not done")
        if self._state == _CANCELLED:
            raise concurrent.futures.CancelledError()
        self._give_back = None
        if self._error is not None:
            raise self._error
        return self._value

    def add_done_callback(self, callback: Callable[[TrioFuture], Any]) -> None:
        if self._state != _PENDING:
            callback(self)
        else:
            self._callbacks.append(callback)

    def _wake(self, result: outcome.Outcome) -> None:
        task, self._task = self._task, None
        if task is not None:
            # Rescheduled with the value itself: once woken, the task gets
            # it; Trio cannot cancel it out of a wait that is already over.
            trio.lowlevel.reschedule(task, result)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Any:
        if self._state == _PENDING:
            if self._task is not None:
                raise RuntimeError("a TrioFuture can be awaited by one task at a time")
            self._task = trio.lowlevel.current_task()

            def abort(_: Any) -> Any:
                # The task is cancelled while it waits: abandon the call.
                self._task = None
                self._cancel()
                return trio.lowlevel.Abort.SUCCEEDED

            value = yield from trio.lowlevel.wait_task_rescheduled(abort).__await__()
            self._give_back = None
            return value
        # Already done: still a checkpoint, as Trio's conventions ask. A
        # cancellation there means the caller never gets the result: to_list's
        # documents go back to the cursor now, ahead of any later read.
        try:
            yield from trio.lowlevel.checkpoint().__await__()
        except BaseException:
            give_back, self._give_back = self._give_back, None
            if give_back is not None:
                # Given back: nobody may have them from here too.
                give_back()
                self._cancel()
            raise
        return self.result()

    def _cancel(self) -> None:
        self._state, self._value, self._error = _CANCELLED, None, None
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __del__(self) -> None:
        give_back = self._give_back
        if give_back is not None:
            give_back()

    def __repr__(self) -> str:
        return f"<TrioFuture {self._state}>"


class _DeliverThroughToken:
    """What the pool calls ``call_soon_threadsafe`` on: the run's token."""

    __slots__ = ("token",)

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token

    def call_soon_threadsafe(self, deliver: Callable[..., Any], *args: Any) -> None:
        try:
            # deliver_safely: an exception escaping a run_sync_soon callback
            # would end the whole Trio run; the waiting task gets it instead.
            self.token.run_sync_soon(_deliver_in_run, deliver, *args)
        except trio.RunFinishedError:
            # As asyncio's closed loop: nobody is waiting there any more.
            raise RuntimeError("the Trio run is over") from None


def _deliver_in_run(deliver: Callable[..., Any], waiter: Any, result: Any, error: BaseException | None) -> None:
    try:
        deliver_safely(deliver, waiter, result, error)
    except Exception:  # noqa: BLE001 - the waiter was done already: nobody else to tell
        logging.getLogger("motorlike").exception("motorlike: an outcome could not be delivered")


def get_event_loop() -> trio.lowlevel.TrioToken:
    """The running Trio run's token (RuntimeError outside ``trio.run``)."""
    return trio.lowlevel.current_trio_token()


def check_event_loop(loop: Any) -> None:
    if not isinstance(loop, trio.lowlevel.TrioToken):
        raise TypeError(f"io_loop must be a trio.lowlevel.TrioToken, not {loop!r}")


def get_future(loop: Any) -> TrioFuture:
    return TrioFuture()


def returnable_future(loop: Any) -> TrioFuture:
    return TrioFuture()


def submit(
    loop: Any,
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    deliver: Callable[[Any, Any, BaseException | None], None] = deliver_to_future,
    future: Any = None,
    lane: Any = None,
    strand: Any = None,
) -> Any:
    if future is None:
        future = TrioFuture()
    try:
        get_pool().submit(_DeliverThroughToken(loop), future, fn, args, kwargs, deliver, lane, strand)
    except Exception as exc:  # noqa: BLE001 - as Motor: the future fails, the call does not raise
        future.set_exception(exc)
    return future


def run_on_executor(loop: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> TrioFuture:
    """Motor's name: run ``fn`` on the worker pool; await the result in ``loop``'s run."""
    return submit(loop, fn, args, kwargs)


async def _wait_concurrent(future: concurrent.futures.Future) -> Any:
    if not future.done():
        token = trio.lowlevel.current_trio_token()
        waiter = TrioFuture()

        def resolve_waiter(_: Any) -> None:
            if not waiter.done():
                waiter.set_result(None)

        def on_done(_: Any) -> None:
            try:
                token.run_sync_soon(resolve_waiter, None)
            except trio.RunFinishedError:
                pass  # nobody waits any more

        future.add_done_callback(on_done)
        await waiter
    else:
        await trio.lowlevel.checkpoint()
    return future.result()


def wait_concurrent(future: concurrent.futures.Future) -> Awaitable[Any]:
    return _wait_concurrent(future)


def spawn(loop: Any, coroutine: Coroutine[Any, Any, Any]) -> None:
    async def run() -> None:
        try:
            await coroutine
        except Exception:  # noqa: BLE001 - escaping a system task would end the whole run
            logging.getLogger("motorlike").exception("motorlike: a background task failed")

    # A system task: Trio's way to run something no nursery owns.
    trio.lowlevel.spawn_system_task(run)


def platform_info() -> str:
    return f"Trio {trio.__version__}"
