"""The asyncio framework: loops are ``asyncio.AbstractEventLoop`` objects."""

from __future__ import annotations

import asyncio
import functools
import sys
from typing import Any, Callable

from motorlike._pool import get_pool

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
    return to_asyncio_loop(loop).create_future()


def run_on_executor(loop: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future:
    """Run ``fn`` on the worker pool; the returned future belongs to ``loop``."""
    return submit(to_asyncio_loop(loop), fn, args, kwargs)


def submit(aio_loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple, kwargs: dict) -> asyncio.Future:
    """``run_on_executor`` for callers that already hold an asyncio loop."""
    future = aio_loop.create_future()
    get_pool().submit(aio_loop, future, fn, args, kwargs)
    return future


def call_soon(loop: Any, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    if kwargs:
        callback = functools.partial(callback, *args, **kwargs)
        args = ()
    to_asyncio_loop(loop).call_soon(callback, *args)


def is_future(obj: Any) -> bool:
    return asyncio.isfuture(obj)


def platform_info() -> str:
    return f"asyncio (Python {sys.version.split()[0]})"
