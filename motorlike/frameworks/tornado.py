"""The Tornado framework: loops are ``tornado.ioloop.IOLoop`` objects.

Tornado 6 runs on asyncio, so everything but finding and checking the loop
is the asyncio framework's.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

try:
    import tornado
    from tornado.ioloop import IOLoop
except ImportError as missing:  # pragma: no cover - tested in a subprocess
    raise ModuleNotFoundError(
        "motorlike's Tornado classes need Tornado: pip install 'motorlike[tornado]'", name="tornado"
    ) from missing

from motorlike._bridge import deliver_to_future
from motorlike.frameworks import asyncio as _asyncio_framework
from motorlike.frameworks.asyncio import ReturnableFuture, is_future, wait_concurrent  # noqa: F401 - shared as they are

NAME = "tornado"
#: Where the classes generated for this framework live.
GENERATED_MODULE = "motorlike.motor_tornado"
#: Tornado's classes keep Motor's plain names: MotorClient, ...
CLASS_PREFIX = ""


def get_event_loop() -> IOLoop:
    return IOLoop.current()


def check_event_loop(loop: Any) -> None:
    if not isinstance(loop, IOLoop):
        raise TypeError(f"io_loop must be an instance of IOLoop, not {loop!r}")


def to_asyncio_loop(loop: Any) -> Any:
    # Accept a bare asyncio loop too: get_io_loop may have been replaced.
    return getattr(loop, "asyncio_loop", loop)


def platform_info() -> str:
    return f"Tornado {tornado.version}"


def get_future(loop: Any) -> Any:
    return to_asyncio_loop(loop).create_future()


def returnable_future(loop: Any) -> ReturnableFuture:
    return ReturnableFuture(loop=to_asyncio_loop(loop))


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
    return _asyncio_framework.submit(getattr(loop, "asyncio_loop", loop), fn, args, kwargs, deliver, future, lane, strand)


def spawn(loop: Any, coroutine: Any) -> None:
    _asyncio_framework.spawn(to_asyncio_loop(loop), coroutine)


def run_on_executor(loop: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return submit(loop, fn, args, kwargs)


def call_soon(loop: Any, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    if kwargs:
        callback = functools.partial(callback, *args, **kwargs)
        args = ()
    to_asyncio_loop(loop).call_soon(callback, *args)
