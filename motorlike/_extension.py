"""What motorlike offers code written against Motor's internals (doc/extending.md).

Libraries that extend Motor (mongomotor ...) subclass its declarations and
attribute factories. Two things of theirs differ from motorlike's own
conventions, and are bridged here: factories with Motor's
``create_attribute(cls, attr_name)``, and private names Motor's subclasses
assign (a database's ``_client``) that PyMongo's objects have too. And
their ``__init__`` does not call motorlike's: what a GridFS object needs
is set when they set it (``io_loop``) or made on first use.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable


def takes_framework(create_attribute: Callable[..., Any]) -> bool:
    """Whether ``create_attribute(self, cls, attr_name, ...)`` has motorlike's third parameter."""
    try:
        parameters = list(inspect.signature(create_attribute).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    return sum(1 for p in parameters if p.kind in positional) >= 4


def framework_optional(create_attribute: Callable[..., Any]) -> Callable[..., Any]:
    """motorlike's ``create_attribute`` callable with Motor's two arguments as well."""

    @functools.wraps(create_attribute)
    def with_framework(self: Any, cls: type, attr_name: str, framework: Any = None) -> Any:
        if framework is None:
            # Motor's call: cls is the generated class.
            framework = cls._framework  # type: ignore[attr-defined]
        return create_attribute(self, cls, attr_name, framework)

    with_framework.__takes_framework__ = True  # type: ignore[attr-defined]
    return with_framework


class MotorBackReference:
    """A private name Motor's subclasses assign, e.g. a database's ``self._client = client``.

    Motor keeps a database's client in ``_client``, so subclasses written for
    Motor set that name in their own ``__init__``. PyMongo's ``Database``
    has a ``_client`` too, so motorlike keeps it under a name of its own
    (``storage``): assigning the Motor name sets that. Reading the Motor
    name finds nothing on the wrapper (the class's ``__getattr__`` decides,
    as if it were never set), so the wrapper never hides the PyMongo
    object's attribute from code that forwards underscore names to it.
    """

    def __init__(self, storage: str) -> None:
        self.storage = storage

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        raise AttributeError(f"{type(obj).__name__} has no attribute {self.name!r} of its own (PyMongo's object has)")

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self.storage, value)


class AssignableIoLoop:
    """``io_loop`` as Motor's GridFS classes have it: a plain attribute their
    subclasses assign (``self.io_loop = database.get_io_loop()``).

    Assigned, it binds the object to that loop (``get_io_loop()`` returns
    it). Unassigned, the object is bound to no loop, as every motorlike
    object: reading ``io_loop`` gives the loop an operation started now
    would use, ``get_io_loop()``.
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.get_io_loop()

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["io_loop"] = value


def assigned_io_loop(obj: Any) -> Any:
    """The loop assigned to ``obj.io_loop``, or None."""
    return obj.__dict__.get("io_loop")


class StrandOnFirstUse:
    """``_strand`` made on first use, for subclasses written for Motor whose
    ``__init__`` does not call motorlike's (which makes it)."""

    _making = threading.Lock()

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        with self._making:
            if "_strand" not in obj.__dict__:
                obj._init_strand()
        return obj.__dict__["_strand"]
