"""The class generator: framework-agnostic declarations become real classes.

A declaration class in :mod:`motorlike.core` (``AgnosticCollection`` ...) names
the PyMongo class it wraps in ``__delegate_class__`` and lists its members as
*attribute factories*. :func:`create_class_with_framework` asks each factory
for the concrete attribute for one framework and builds a subclass of the
declaration, e.g. ``AsyncIOMotorCollection`` or Tornado's ``MotorCollection``.

There is one factory per behaviour:

=============================  ==================================================
``AsyncCall``                  coroutine running the PyMongo method on a worker
``ReadOnlyProperty``           property reading the PyMongo attribute
``DelegateMethod``             synchronous call of the PyMongo method
``MotorCursorChainingMethod``  synchronous call that returns the motorlike cursor
``BackgroundMethod``           runs on a worker, returns at once: awaitable or not
=============================  ==================================================

Declarations that wrap a PyMongo object which is not thread-safe (a cursor,
a change stream, a GridFS file, a session) derive from
:class:`SerializedWorkerCalls`: every worker call on them, generated or
hand-written, joins the object's strand and runs in the order it was made
(motorlike._strand). Every call also names its client's lane (``_lane()``),
which shares the worker threads out among clients (motorlike._pool).

``AsyncCall``, ``ReadOnlyProperty`` and ``DelegateMethod`` take ``wrap=True``:
a returned PyMongo object is then wrapped in the motorlike class registered for
its exact type (see :func:`wraps_pymongo`). Arguments that are motorlike objects
(a session, a database passed to ``drop_database`` ...) are replaced by their
PyMongo delegates before the call.
"""

from __future__ import annotations

import abc
import functools
import inspect
import types
import warnings
from typing import Any, Callable, TypeVar

from motorlike import _bridge, _docstrings, _pymongo_members
from motorlike._bridge import BackgroundCall, SerializedWorkerCalls, deliver_to_future
from motorlike._extension import MotorBackReference, framework_optional, takes_framework
from motorlike._registry import _wrapper_declarations, declaration_for, framework_class_names, wraps_pymongo
from motorlike._signatures import (
    coroutine_annotation,
    describe,
    is_async_method,
    pymongo_member,
    pymongo_parameters,
    set_signature,
)

#: Where an object keeps (pool, its client's lane): see AgnosticBase._lane.
_LANE_KEY = "_motorlike_lane"
# (declaration, framework module) -> generated class.
_generated: dict[tuple[type, Any], type] = {}


def result_wrapper(framework: Any) -> Callable[[Any, Any], Any]:
    """A function ``wrap(owner, result)`` for one framework.

    The mapping from PyMongo type to generated class is resolved on first
    sight of each type and kept, so the hot path is one dict lookup.
    """
    # PyMongo type -> generated class, or False for "do not wrap".
    resolved: dict[type, Any] = {}

    def wrap(owner: Any, result: Any) -> Any:
        result_type = type(result)
        generated: Any = resolved.get(result_type)
        if generated is None:
            declaration = declaration_for(result_type)
            if declaration is None:
                resolved[result_type] = False
                return result
            generated = resolved[result_type] = generated_class(declaration, framework)
        if generated is False:
            return result
        owner_class = type(owner)
        if owner_class is not generated and type(getattr(owner, "delegate", None)) is result_type:
            # The kind of object the owner wraps (with_options, a collection's
            # sub-collection ...): the owner's own class, as Motor made them,
            # so a subclass's collections stay its own.
            return owner_class._from_delegate(owner, result)
        return generated._from_delegate(owner, result)

    return wrap


_wrappers_by_framework: dict[Any, Callable[[Any, Any], Any]] = {}


def wrapper_for_framework(framework: Any) -> Callable[[Any, Any], Any]:
    wrap = _wrappers_by_framework.get(framework)
    if wrap is None:
        wrap = _wrappers_by_framework[framework] = result_wrapper(framework)
    return wrap


class AgnosticBase:
    """Base of every declaration: an object wrapping one PyMongo ``delegate``."""

    __delegate_class__: type | None = None
    #: Set on generated classes to the framework module they were made for.
    _framework: Any = None

    def __init__(self, delegate: Any) -> None:
        self.delegate = delegate

    def _new(self, declaration: type, *args: Any, **kwargs: Any) -> Any:
        """A new object of ``declaration``'s class for this object's framework.

        How motorlike builds its objects from one another (a database from a
        client, a cursor from a collection ...); a PyMongo object a call
        returns goes through :meth:`wrap`, to the same classes.
        """
        return generated_class(declaration, self._framework)(*args, **kwargs)

    def wrap(self, obj: Any) -> Any:
        """Wrap a PyMongo object (database, collection, cursor ...) in motorlike's class.

        Every member that returns a PyMongo object wrapped (``wrap=True``
        factories: ``get_collection``, ``with_options``, ``start_session``,
        a bucket's ``open_download_stream`` ...) calls this, so a subclass may
        override it to return its own classes (Motor's protocol). An object
        of the kind this one wraps becomes one of this object's class.
        """
        return wrapper_for_framework(self._framework)(self, obj)

    def _lane(self) -> Any:
        """The lane of the client this object's calls go to (motorlike._pool);
        None: the pool's default lane. Found once per object and pool (a
        forked child has a pool of its own), through ``_find_lane``."""
        cached = self.__dict__.get(_LANE_KEY)
        if cached is not None and cached[0] is _bridge._pool:
            return cached[1]
        lane = self._find_lane()
        self.__dict__[_LANE_KEY] = (_bridge._pool, lane)
        return lane

    def _find_lane(self) -> Any:
        """Declarations owned by a client say how to reach its lane; None: no client."""
        return None

    def __class_getitem__(cls, document_type: Any) -> Any:
        """``AsyncIOMotorCollection[dict[str, Any]]`` in annotations and aliases, as in Motor 3."""
        return types.GenericAlias(cls, document_type)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, AgnosticBase) and type(self)._framework is type(other)._framework:
            return self.delegate == other.delegate
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.delegate!r})"


def unwrap_arguments(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Replace motorlike objects among the arguments by their PyMongo delegates."""
    # Plain loops, not any(<generator>): this runs on every call, and the
    # common case (nothing to replace) should cost a few isinstance checks.
    for arg in args:
        if isinstance(arg, AgnosticBase):
            args = tuple(a.delegate if isinstance(a, AgnosticBase) else a for a in args)
            break
    for value in kwargs.values():
        if isinstance(value, AgnosticBase):
            kwargs = {k: v.delegate if isinstance(v, AgnosticBase) else v for k, v in kwargs.items()}
            break
    return args, kwargs


def _coroutine_names() -> set[str]:
    """Names of every coroutine method of every declaration (for examples)."""
    names: set[str] = set()
    for declaration in list(_wrapper_declarations.values()):
        for klass in declaration.__mro__:
            for name, value in vars(klass).items():
                if isinstance(value, AsyncCall) or inspect.iscoroutinefunction(value) or is_async_method(value):
                    names.add(name)
    return names


class MotorAttributeFactory(abc.ABC):
    """Base of the attribute factories; see the module docstring.

    A factory's ``create_attribute`` has one of two signatures, and the
    generator tells them apart (doc/extending.md):

    * motorlike's, ``create_attribute(cls, attr_name, framework)``: ``cls``
      is the declaration, ``framework`` the framework module;
    * Motor's, ``create_attribute(cls, attr_name)``: ``cls`` is the generated
      class (its ``_framework`` is the framework module).

    A subclass written for Motor may call ``super().create_attribute(cls,
    attr_name)`` on one of motorlike's factories: their ``framework`` is
    then taken from ``cls._framework``.
    """

    def __init__(self, attr_name: str | None = None, doc: str | None = None, wrap: bool = False) -> None:
        #: Name of the PyMongo attribute, when it differs from ours.
        self.attr_name = attr_name
        self.doc = doc
        self.wrap = wrap

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        create_attribute = cls.__dict__.get("create_attribute")
        if create_attribute is not None and takes_framework(create_attribute):
            cls.create_attribute = framework_optional(create_attribute)  # type: ignore[method-assign]

    @abc.abstractmethod
    def create_attribute(self, cls: type, attr_name: str, framework: Any = None) -> Any:
        """Return the concrete attribute for ``framework``."""


def _create_attribute(factory: MotorAttributeFactory, declaration: type, generated: type, attr_name: str, framework: Any) -> Any:
    """Ask ``factory`` for its attribute, in motorlike's protocol or in Motor's."""
    if getattr(type(factory).create_attribute, "__takes_framework__", False):
        # A PyMongo method the installed PyMongo lacks becomes a clear error.
        return _pymongo_members.attribute_for(factory, declaration, attr_name, framework)
    return factory.create_attribute(generated, attr_name)  # type: ignore[call-arg]


class AsyncCall(MotorAttributeFactory):
    """A coroutine that runs the PyMongo method on the worker pool.

    ``run=function`` runs ``function(delegate, *args, **kwargs)`` instead of
    a PyMongo method: for helpers PyMongo no longer has, built from server
    commands. ``deprecated="message"`` warns with DeprecationWarning on call.
    """

    def __init__(
        self,
        attr_name: str | None = None,
        doc: str | None = None,
        wrap: bool = False,
        run: Callable[..., Any] | None = None,
        deprecated: str | None = None,
    ) -> None:
        super().__init__(attr_name, doc, wrap)
        self.run = run
        self.deprecated = deprecated

    def create_attribute(self, cls: type, attr_name: str, framework: Any) -> Any:
        pymongo_name = self.attr_name or attr_name
        wrap = wrapper_for_framework(framework) if self.wrap else None
        submit = framework.submit
        run = self.run
        deprecated = self.deprecated
        serialized = issubclass(cls, SerializedWorkerCalls)

        # Not ``async def``: as Motor's, the call starts at once and returns
        # a future, so code that calls without ``await`` (a fire-and-forget
        # insert loop, as Motor's tutorial shows) still has it done.
        def call_on_worker(self: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                args, kwargs = unwrap_arguments(args, kwargs)
            if run is None:
                target = getattr(self.delegate, pymongo_name)
            else:
                target, args = run, (self.delegate, *args)
            if deprecated is not None:
                warnings.warn(deprecated, DeprecationWarning, stacklevel=2)
            deliver = deliver_to_future if wrap is None else _WrappingDelivery(wrap, self)
            strand = self._strand if serialized else None
            return submit(self.get_io_loop(), target, args, kwargs, deliver, None, self._lane(), strand)

        coroutine_annotation(call_on_worker)
        if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+: iscoroutinefunction() says so
            inspect.markcoroutinefunction(call_on_worker)
        if run is not None:
            call_on_worker.__name__ = attr_name
            call_on_worker.__qualname__ = f"{framework.CLASS_PREFIX}{getattr(cls, '__motor_class_name__', cls.__name__)}.{attr_name}"
            call_on_worker.__doc__ = self.doc or run.__doc__
            signature = inspect.signature(run)
            parameters = list(signature.parameters.values())
            call_on_worker.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=[parameters[0].replace(name="self"), *parameters[1:]]
            )
        else:
            describe(
                call_on_worker, cls, attr_name, pymongo_name, self.doc, framework,
                coroutine=True, wrap=self.wrap, coroutine_names=_coroutine_names,
            )
        return call_on_worker


class _WrappingDelivery:
    """``deliver`` for ``wrap=True`` calls: the PyMongo result, passed through
    the owner's ``wrap()``, on the loop."""

    __slots__ = ("owner",)

    def __init__(self, framework_wrap: Callable[[Any, Any], Any], owner: Any) -> None:
        # framework_wrap is what the owner's wrap() does unless a subclass
        # overrides it; the owner's method is called, so an override counts.
        self.owner = owner

    def __call__(self, future: Any, result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
            return
        try:
            # The owner's wrap(), which a subclass may override (Motor's protocol).
            future.set_result(self.owner.wrap(result))
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
            future.set_exception(exc)


#: Motor's names for the same factory; they differed only in documentation.
AsyncRead = AsyncWrite = AsyncCommand = AsyncCall


class ReadOnlyProperty(MotorAttributeFactory):
    """A property that reads the PyMongo attribute of the same name."""

    def create_attribute(self, cls: type, attr_name: str, framework: Any) -> Any:
        pymongo_name = self.attr_name or attr_name
        wrap = wrapper_for_framework(framework) if self.wrap else None

        def read(self: Any) -> Any:
            value = getattr(self.delegate, pymongo_name)
            return self.wrap(value) if wrap is not None else value

        member = pymongo_member(cls, pymongo_name)
        doc = self.doc if self.doc is not None else getattr(member, "__doc__", None)
        getter = getattr(member, "fget", None)
        returns = getattr(getter, "__annotations__", {}).get("return")
        if returns is not None:
            # PyMongo's type, or motorlike's class for what is wrapped.
            if wrap is not None:
                returns = _docstrings.motorlike_annotation(returns, framework_class_names(framework))
            read.__annotations__ = {"return": returns}
        read.__name__ = attr_name
        read.__qualname__ = f"{framework.CLASS_PREFIX}{getattr(cls, '__motor_class_name__', cls.__name__)}.{attr_name}"
        return property(read, doc=doc)


class DelegateMethod(MotorAttributeFactory):
    """A synchronous method calling the PyMongo method of the same name."""

    def create_attribute(self, cls: type, attr_name: str, framework: Any) -> Any:
        pymongo_name = self.attr_name or attr_name
        wrap = wrapper_for_framework(framework) if self.wrap else None

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                args, kwargs = unwrap_arguments(args, kwargs)
            result = getattr(self.delegate, pymongo_name)(*args, **kwargs)
            return self.wrap(result) if wrap is not None else result

        describe(call, cls, attr_name, pymongo_name, self.doc, framework, wrap=self.wrap)
        return call


class BackgroundMethod(MotorAttributeFactory):
    """A method that may touch the network but must not block the loop: ``client.close()``.

    It runs the PyMongo method on a worker and returns at once a
    :class:`~motorlike._bridge.BackgroundCall`: ``await`` it to wait for the
    call to finish, or ignore it (no warning), as Motor code does. With
    ``closes_client=True`` the object's client refuses new calls from the
    moment it is called (InvalidOperation, as PyMongo after ``close()``),
    and the interpreter waits for it at exit (a few seconds at most).
    """

    def __init__(self, attr_name: str | None = None, doc: str | None = None, closes_client: bool = False) -> None:
        super().__init__(attr_name, doc)
        self.closes_client = closes_client

    def create_attribute(self, cls: type, attr_name: str, framework: Any) -> Any:
        pymongo_name = self.attr_name or attr_name
        serialized = issubclass(cls, SerializedWorkerCalls)
        closes_client = self.closes_client

        def call_in_background(self: Any, *args: Any, **kwargs: Any) -> BackgroundCall:
            if args or kwargs:
                args, kwargs = unwrap_arguments(args, kwargs)
            method = getattr(self.delegate, pymongo_name)
            if kwargs:
                method = functools.partial(method, **kwargs)
            if closes_client:
                lane = self._lane()
                if lane is not None:
                    lane.closed = True
            strand = self._strand if serialized else None
            return BackgroundCall(method, *args, strand=strand, framework=framework, wait_at_exit=closes_client)

        describe(call_in_background, cls, attr_name, pymongo_name, self.doc, framework)
        signature = getattr(call_in_background, "__signature__", None)
        if signature is not None:
            set_signature(call_in_background, signature.replace(return_annotation="BackgroundCall"))
        return call_in_background


class MotorCursorChainingMethod(MotorAttributeFactory):
    """A cursor modifier: calls the PyMongo cursor's method, returns our cursor."""

    def create_attribute(self, cls: type, attr_name: str, framework: Any) -> Any:
        pymongo_name = self.attr_name or attr_name

        def chain(self: Any, *args: Any, **kwargs: Any) -> Any:
            getattr(self.delegate, pymongo_name)(*args, **kwargs)
            return self

        describe(chain, cls, attr_name, pymongo_name, self.doc, framework)
        # The PyMongo signature is right but for what is returned: this cursor.
        signature = getattr(chain, "__signature__", None)
        if signature is not None:
            motor_name = framework.CLASS_PREFIX + getattr(cls, "__motor_class_name__", cls.__name__)
            set_signature(chain, signature.replace(return_annotation=f"{motor_name}[_DocumentType]"))
        return chain


_Declaration = TypeVar("_Declaration")


def create_class_with_framework(cls: type[_Declaration], framework: Any, module_name: str) -> type[_Declaration]:
    """Build (once) the concrete class for declaration ``cls`` and ``framework``.

    The result subclasses ``cls``, so ``isinstance(x, AgnosticCollection)``
    holds for every framework's collection. For each attribute name the most
    derived definition along the MRO wins; only factories are replaced.
    """
    key = (cls, framework)
    generated = _generated.get(key)
    if generated is not None:
        return generated

    name = framework.CLASS_PREFIX + getattr(cls, "__motor_class_name__", cls.__name__)
    namespace: dict[str, Any] = {"__module__": module_name, "__qualname__": name, "_framework": framework}
    if cls.__doc__:
        namespace["__doc__"] = cls.__doc__
    # Motor's factories are given the generated class, so it exists before
    # they are asked; until then each factory stands in its own place.
    generated = type(name, (cls,), namespace)
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attr_name, value in vars(klass).items():
            if attr_name in seen:
                continue
            seen.add(attr_name)
            if isinstance(value, MotorAttributeFactory):
                setattr(generated, attr_name, _create_attribute(value, cls, generated, attr_name, framework))
    _generated[key] = generated
    return generated


def generated_class(declaration: type[_Declaration], framework: Any) -> type[_Declaration]:
    """The class generated from ``declaration`` for ``framework``, in the
    framework's public module (``AsyncIOMotorCursor`` ...); made once, cached.
    The one way motorlike builds a class to wrap a PyMongo object in."""
    return create_class_with_framework(declaration, framework, framework.GENERATED_MODULE)


__all__ = [
    "AsyncCall",
    "AsyncCommand",
    "AsyncRead",
    "AsyncWrite",
    "BackgroundMethod",
    "DelegateMethod",
    "MotorAttributeFactory",
    "MotorBackReference",
    "MotorCursorChainingMethod",
    "ReadOnlyProperty",
    "SerializedWorkerCalls",
    "coroutine_annotation",
    "create_class_with_framework",
    "declaration_for",
    "generated_class",
    "is_async_method",
    "pymongo_parameters",
    "unwrap_arguments",
    "wraps_pymongo",
]
