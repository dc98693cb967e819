"""Event-loop frameworks motorlike can generate classes for.

A framework is a module that implements :class:`Framework`: how to find the
caller's loop (or Trio token), check one a user passes as ``io_loop``, make
the awaitable a worker's result arrives in, hand that result over thread-safely,
and wait for a call nobody has to await. Nothing outside this package needs to
know which framework runs: the declarations and the generator call these
functions only. ``test_frameworks_implement_the_protocol`` checks each module
against the Protocol, and mypy does too (a module can implement a Protocol).
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Awaitable, Callable, Coroutine, Protocol

#: ``deliver(future, result, error)``: runs on the caller's loop once a call is over.
Deliver = Callable[[Any, Any, "BaseException | None"], None]


class Framework(Protocol):
    """What motorlike asks of an event-loop framework.

    *loop* below is whatever the framework calls its event loop: an asyncio
    loop, a Tornado ``IOLoop``, a Trio token. A *future* is the framework's
    awaitable for one worker call; the bridge needs only its ``done()``,
    ``cancelled()``, ``set_result()`` and ``set_exception()``, called on
    the loop's thread.
    """

    #: Short name: ``"asyncio"``, ``"tornado"``, ``"trio"``.
    NAME: str
    #: The public module the generated classes live in.
    GENERATED_MODULE: str
    #: Prefix of generated class names (``AsyncIO`` for AsyncIOMotorClient).
    CLASS_PREFIX: str

    def get_event_loop(self) -> Any:
        """The loop an operation started now belongs to (the running one)."""

    def check_event_loop(self, loop: Any) -> None:
        """Raise TypeError unless ``loop`` is a loop of this framework (``io_loop=``)."""

    def get_future(self, loop: Any) -> Any:
        """A new, pending future on ``loop``."""

    def returnable_future(self, loop: Any) -> Any:
        """A future with ``resolve(result, give_back)``: ``give_back()`` runs if
        the result's only consumer is cancelled before it takes it (to_list)."""

    def submit(
        self,
        loop: Any,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        deliver: Deliver = ...,
        future: Any = None,
        lane: Any = None,
        strand: Any = None,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` on the worker pool; ``deliver(future, result,
        error)`` runs on ``loop`` when it is over. Returns ``future`` (a new one
        from :meth:`get_future` if None). ``lane``: the client's (motorlike._pool);
        ``strand``: the object's, to run after its earlier calls (motorlike._strand)."""

    def wait_concurrent(self, future: concurrent.futures.Future) -> Awaitable[Any]:
        """Await a ``concurrent.futures.Future`` from the running loop; giving up
        the wait leaves the call running."""

    def spawn(self, loop: Any, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` in the background on ``loop`` (Motor's ``cursor.each``)."""

    def platform_info(self) -> str:
        """Framework and version, for the driver metadata sent to the server."""
