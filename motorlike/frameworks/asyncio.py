"""The asyncio framework: loops are ``asyncio.AbstractEventLoop`` objects."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import sys
from typing import Any, Awaitable, Callable, Coroutine

from motorlike._bridge import deliver_safely, deliver_to_future, get_pool
from motorlike.frameworks._inbox import inbox_for

NAME = "asyncio"
#: Where the classes generated for this framework live.
GENERATED_MODULE = "motorlike.motor_asyncio"
#: Prefix of generated class names: AsyncIOMotorClient, ...
CLASS_PREFIX = "AsyncIO"


def get_event_loop() -> asyncio.AbstractEventLoop:
    """The loop an operation started now belongs to.

    The running loop wins, so one client serves any number of loops, one
    after another or at once in different threads. Outside a running loop
    (scheduling a future before ``run_until_complete``), the thread's set
    loop is used; asyncio raises if there is none.
    """
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


def check_event_loop(loop: Any) -> None:
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise TypeError(f"io_loop must be an instance of asyncio-compatible event loop, not {loop!r}")


def to_asyncio_loop(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    return loop


def get_future(loop: Any) -> asyncio.Future:
    return loop.create_future()


def submit(
    loop: asyncio.AbstractEventLoop,
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    deliver: Callable[[Any, Any, BaseException | None], None] = deliver_to_future,
    future: Any = None,
    lane: Any = None,
    strand: Any = None,
) -> Any:
    """Run ``fn`` on the worker pool; its outcome reaches ``future`` on ``loop``."""
    if future is None:
        future = loop.create_future()
    # Outcomes reach the loop through its inbox: one wake-up for all the
    # calls that finish while it is busy.
    inbox = inbox_for(loop)
    if inbox is loop:  # a loop that carries no inbox (uvloop's)
        deliver = functools.partial(deliver_safely, deliver)
    try:
        get_pool().submit(inbox, future, fn, args, kwargs, deliver, lane, strand)
    except Exception as exc:  # noqa: BLE001 - as Motor: the future fails, the call does not raise
        future.set_exception(exc)
    return future


def run_on_executor(loop: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future:
    """Motor's name: run ``fn`` on the worker pool; the future belongs to ``loop``."""
    return submit(loop, fn, args, kwargs)


def wait_concurrent(future: concurrent.futures.Future) -> Awaitable[Any]:
    return asyncio.wrap_future(future)


def spawn(loop: Any, coroutine: Coroutine[Any, Any, Any]) -> None:
    task = loop.create_task(coroutine)
    # asyncio keeps only a weak reference to a task.
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)


_background_tasks: set = set()


class ReturnableFuture(asyncio.Future):
    """A future whose result goes back where it came from if nobody takes it.

    ``cursor.to_list()`` returns one: the documents it resolves to were
    taken from the cursor's buffer. If the awaiting task is cancelled after
    they arrived but before it ran again (``wait_for`` timing out in the
    same loop iteration, say), a plain future would drop them. Here they go
    back to the front of the buffer: ``resolve(result, give_back)`` keeps
    ``give_back`` until the result is retrieved (``result()``, or ``await``
    resuming), and calls it if the awaiting task is cancelled at its
    ``await`` or the future is dropped unread.

    Only a future with one consumer gives back: awaited by one coroutine
    and given no done-callback of anyone else's. With two (a second awaiter,
    ``gather``, Tornado's ``with_timeout``, a callback calling ``result()``)
    one of them may have the documents, so none is taken back, as with a
    plain future.
    """

    _give_back: Callable[[], None] | None = None
    _retrieved = False
    _awaiters = 0
    _callbacks_added = 0

    def add_done_callback(self, fn: Callable[..., Any], *, context: Any = None) -> None:
        self._callbacks_added += 1  # an awaiting task adds one too
        super().add_done_callback(fn, context=context)

    def resolve(self, result: Any, give_back: Callable[[], None]) -> None:
        self._give_back = give_back
        self.set_result(result)

    def result(self) -> Any:
        # A task waiting on this future calls result() when it is woken, even
        # if it is then cancelled before its coroutine sees the value: only
        # __await__ knows for sure, and a plain result() reader (a callback,
        # asyncio.wait_for on Python 3.11) counts as having taken it.
        value = super().result()
        self._retrieved = True
        return value

    def _return_result(self) -> None:
        give_back, self._give_back = self._give_back, None
        if give_back is not None:
            give_back()

    def _sole_consumer(self) -> bool:
        return self._awaiters <= 1 and self._callbacks_added <= 1

    def __await__(self) -> Any:
        if not self.done():
            self._awaiters += 1
            self._asyncio_future_blocking = True
            try:
                yield self
            except BaseException:
                # The awaiting task was cancelled (or closed) here, maybe
                # just after the result arrived.
                if self._sole_consumer():
                    self._return_result()
                raise
        if not self.done():
            raise RuntimeError("await wasn't used with future")
        value = self.result()
        self._give_back = None  # the awaiting coroutine has it now
        return value

    __iter__ = __await__

    def __del__(self) -> None:
        if not self._retrieved and self._sole_consumer():
            self._return_result()
        super().__del__()


def returnable_future(loop: Any) -> ReturnableFuture:
    return ReturnableFuture(loop=loop)


def call_soon(loop: Any, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    if kwargs:
        callback = functools.partial(callback, *args, **kwargs)
        args = ()
    to_asyncio_loop(loop).call_soon(callback, *args)


def is_future(obj: Any) -> bool:
    return asyncio.isfuture(obj)


def platform_info() -> str:
    return f"asyncio (Python {sys.version.split()[0]})"
