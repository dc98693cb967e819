"""Synchronous PyMongo behaviours that Motor's API deliberately lacks.

Everything here exists only because synchronous PyMongo does I/O where an
asynchronous API cannot (a constructor, an index, a ``with`` block), or
starts eagerly what Motor starts lazily. Each emulation is written against
motorlike's public API (plus, for eager starts, the two private hooks its
latent cursors are built on), never by calling PyMongo's synchronous I/O:
what runs is still motorlike.

A mixin is picked by the PyMongo class name of the synchro class; its
members take precedence over the generated ones.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from pymongo.errors import InvalidOperation
from pymongo.synchronous.command_cursor import CommandCursor
from pymongo.synchronous.cursor import Cursor


class MongoClientSync:
    """PyMongo's client connects at once by default, and closes at the end of ``with``.

    motorlike, like Motor, defaults to ``connect=False``; a test of PyMongo
    expects the monitors to run from the start (heartbeat events, an open
    topology), so the shim passes PyMongo's default unless told otherwise.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("connect", True)
        super().__init__(*args, **kwargs)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _CollectedLikePyMongo:
    """``cursor.__del__()``: what happens when a motorlike cursor is collected.

    motorlike's cursors (like Motor's) have no ``__del__``: when one is
    garbage collected, its PyMongo cursor is too, and that cursor's
    ``__del__`` queues the server cursor for killing and ends an implicit
    session. PyMongo's tests call ``__del__`` by hand; this does the same.

    It is served by ``__getattr__``, not defined on the class: a finalizer
    on every synchro cursor would run Python code inside arbitrary garbage
    collections (CPython 3.11 then breaks ``ast.parse`` with "AST constructor
    recursion depth mismatch"), and the PyMongo cursor finalizes itself.
    """

    def __getattr__(self, name: str) -> Any:
        if name == "__del__":
            motor = self.__dict__.get("_motor")
            cursor = getattr(motor, "delegate", None)
            if isinstance(cursor, (Cursor, CommandCursor)):
                return functools.partial(type(cursor).__del__, cursor)
            return _nothing
        return super().__getattr__(name)


def _nothing() -> None:
    """A cursor that was never initialized has nothing to clean up."""


class CursorSync(_CollectedLikePyMongo):
    """``cursor[n]``: one document, fetched by a clone with skip and a hard limit."""

    def __getitem__(self, index: Any) -> Any:
        motor = self._motor
        if isinstance(index, int) and not isinstance(index, bool):
            if index < 0:
                raise IndexError("Cursor instances do not support negative indices")
            delegate = motor.delegate
            # PyMongo's own rule: no new query options once this cursor ran.
            delegate._check_okay_to_chain()
            clone = motor.clone()
            clone.skip(index + delegate._skip)
            clone.limit(-1)
            documents = self._api.run(clone.to_list, 1)
            if documents:
                return self._api.wrap(documents[0], None)
            raise IndexError("no such item for Cursor instance")
        if isinstance(index, slice):
            motor[index]
            return self
        raise TypeError(f"index {index!r} cannot be applied to Cursor instances")


class RawBatchCursorSync:
    def __getitem__(self, index: Any) -> Any:
        from pymongo.errors import InvalidOperation

        raise InvalidOperation("Cannot call __getitem__ on RawBatchCursor")


class CommandCursorSync(_CollectedLikePyMongo):
    pass


class LatentCommandCursorSync:
    """PyMongo runs aggregate / listIndexes when called, Motor on first use: start now."""

    def _synchro_wrapped(self) -> None:
        motor = self._motor
        if motor.delegate is None:
            self._api.run(lambda: motor._run(motor._ensure_started))


class ChangeStreamSync:
    """PyMongo's watch() sends the aggregate at once; Motor's opens on first use."""

    def _synchro_wrapped(self) -> None:
        motor = self._motor
        if motor.delegate is None and motor.alive:
            self._api.run(motor.__aenter__)


class ClientSessionSync:
    """``with_transaction`` takes a synchronous callback, as PyMongo's does."""

    def with_transaction(self, callback: Callable[[Any], Any], *args: Any, **kwargs: Any) -> Any:
        api = self._api
        session = self

        async def run_callback(motor_session: Any) -> Any:
            return await api.run_sync_callback(callback, session)

        args, kwargs = api.unwrap_arguments(args, kwargs)
        return api.run(self._motor.with_transaction, run_callback, *args, **kwargs)

    def bind(self, end_session: bool = True) -> Any:
        """``with session.bind():`` in synchronous code (PyMongo ends the session on exit)."""
        return _SyncBinding(self, end_session)


class _SyncBinding:
    """motorlike's own binding, entered in the caller's context; ends the session after."""

    def __init__(self, session: Any, end_session: bool) -> None:
        self._session = session
        self._end_session = end_session
        self._binding: Any = None

    def __enter__(self) -> Any:
        # The binding is a context variable: it must be set in the caller's
        # context (synchro calls carry that context to the loop), which a
        # plain 'with' on motorlike's binding does.
        self._binding = self._session._motor.bind(end_session=False)
        self._binding.__enter__()
        return self._session

    def __exit__(self, *exc_info: Any) -> None:
        self._binding.__exit__(*exc_info)
        if self._end_session:
            self._session.end_session()


try:
    from motorlike._gridfs_files import _GRID_IN_READ_ONLY
except ImportError:  # GridFS is optional for the shim
    _GRID_IN_READ_ONLY = frozenset()


class GridInSync:
    """PyMongo's GridIn takes file fields as attributes (``f.metadata = {...}``),
    and after ``close()`` writes each to the server at once. motorlike's takes
    them while the file is open and asks for ``await set()`` afterwards (I/O);
    the shim calls ``set()`` for PyMongo's synchronous assignment then.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_motor" or "_motor" not in self.__dict__:
            object.__setattr__(self, name, value)
            return
        motor = self._motor
        if motor.closed and name not in _GRID_IN_READ_ONLY:
            self._api.run(motor.set, name, value)
        else:
            setattr(motor, name, value)


class GridOutSync:
    """PyMongo's GridOut fetches its file document on the first read of one of
    its properties (blocking I/O); Motor's API asks for ``await open()``
    first and raises InvalidOperation until then. The shim opens on first need.
    """

    def __getattr__(self, name: str) -> Any:
        # Other fields of the file document (``grid_out.bar``).
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except InvalidOperation:
            self._api.run(self._motor.open)
            return super().__getattr__(name)  # type: ignore[misc]


def _file_property(name: str) -> property:
    def read(self: Any) -> Any:
        try:
            value = getattr(self._motor, name)
        except InvalidOperation:
            self._api.run(self._motor.open)
            value = getattr(self._motor, name)
        return self._api.wrap(value, self)

    return property(read)


def _add_file_properties() -> None:
    try:
        from motorlike.motor_gridfs import AgnosticGridOut, MotorGridOutProperty
    except ImportError:  # GridFS is optional for the shim
        return
    for klass in AgnosticGridOut.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, MotorGridOutProperty) and name not in vars(GridOutSync):
                setattr(GridOutSync, name, _file_property(name))


_add_file_properties()


MIXINS: dict[str, type] = {
    "GridIn": GridInSync,
    "GridOut": GridOutSync,
    "MongoClient": MongoClientSync,
    "Cursor": CursorSync,
    "CommandCursor": CommandCursorSync,
    "RawBatchCursor": RawBatchCursorSync,
    "LatentCommandCursor": LatentCommandCursorSync,
    "ChangeStream": ChangeStreamSync,
    "ClientSession": ClientSessionSync,
}
