"""What the client, database and collection declarations share.
"""

from __future__ import annotations

import warnings
from typing import Any

from pymongo.synchronous.collection import Collection
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike import _legacy
from motorlike._change_stream import AgnosticChangeStream
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    ReadOnlyProperty,
    pymongo_parameters,
)


def _validate_length(length: Any) -> None:
    if length is None:
        return
    if isinstance(length, bool) or not isinstance(length, int):
        raise TypeError(f"length must be an int or None, not {type(length).__name__}")
    if length < 0:
        raise ValueError(f"length must be non-negative, not {length}")


def _legacy_call(name: str, wrap: bool = False) -> AsyncCall:
    """A deprecated coroutine for a helper PyMongo 4 removed (see _legacy)."""
    return AsyncCall(run=getattr(_legacy, name), deprecated=_legacy.DEPRECATIONS[name], wrap=wrap)


def _warn_deprecated(what: str, instead: str) -> None:
    warnings.warn(f"{what} is deprecated, use {instead} instead", DeprecationWarning, stacklevel=3)


class AgnosticBaseProperties(AgnosticBase):
    codec_options = ReadOnlyProperty()
    read_preference = ReadOnlyProperty()
    read_concern = ReadOnlyProperty()
    write_concern = ReadOnlyProperty()

    def __hash__(self) -> int:
        return hash(self.delegate)

    # Not iterable, as PyMongo's: without this, iter() would fall back to
    # __getitem__(0), (1) ... which names sub-databases/collections forever.
    # None (not a raising method) also keeps isinstance(x, Iterable) False.
    __iter__ = None

    @pymongo_parameters(Collection.watch)
    def watch(self, pipeline: Any = None, **kwargs: Any) -> AgnosticChangeStream[_DocumentType]:
        """A change stream on this client, database or collection, opened on first use.

        Arguments are those of PyMongo's ``watch``; nothing is sent until the
        stream is first used (``async with``, ``async for``, ``try_next``).
        """
        return self._new(AgnosticChangeStream, self, pipeline, kwargs)


def wraps_a(obj: Any, pymongo_class: type) -> bool:
    """Whether ``obj`` is a motorlike object around an instance of ``pymongo_class``.

    How an object recognises its parent (a collection its database, a cursor
    its collection): by what the parent wraps, which is what the child uses,
    so the child's module need not import the parent's (that one imports it).
    """
    return isinstance(obj, AgnosticBase) and isinstance(obj.delegate, pymongo_class)


def _not_callable(obj: Any, method_name: str, parent_class_name: str) -> TypeError:
    return TypeError(
        f"'{type(obj).__name__}' object is not callable. If you meant to call the "
        f"'{method_name}' method on a '{parent_class_name}' object it is failing "
        "because no such method exists." + _legacy.removed_hint(method_name)
    )
