"""Synchronous classes generated from motorlike's declarations.

For one framework, :class:`SynchroAPI` makes a synchronous class for each
motorlike declaration (``AgnosticCollection`` -> ``Collection`` ...). Every
member is classified from the declaration itself:

==========================================  =====================================
in the declaration                          in the synchro class
==========================================  =====================================
``AsyncCall`` factory, ``async def``        method run to completion on the loop
``ReadOnlyProperty`` factory, ``property``  property, read in the caller's thread
``DelegateMethod`` factory                  method called in the caller's thread
``MotorCursorChainingMethod``, other defs   method run on the loop (a returned
                                            future, e.g. ``to_list``, is awaited)
``__aiter__`` / ``__anext__``               ``__iter__`` / ``__next__``
``__aenter__`` / ``__aexit__``              ``__enter__`` / ``__exit__``
==========================================  =====================================

Results are wrapped back: a motorlike object becomes the synchro object of
its declaration, an async context manager (``start_transaction()``) a
synchronous one. Synchro arguments are replaced by their motorlike objects.
Private attributes not declared by motorlike (``client._topology`` ...),
which PyMongo's tests read, are read from the innermost PyMongo object.

The few PyMongo behaviours Motor deliberately lacks, because they need
synchronous I/O, are emulated in :mod:`synchro._pymongo_sync`, always by
calling motorlike's public API.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import weakref
from typing import Any, Callable

from motorlike import core
from motorlike._registry import _wrapper_declarations
from motorlike.metaprogramming import (
    is_async_method,
    AgnosticBase,
    AsyncCall,
    DelegateMethod,
    MotorAttributeFactory,
    MotorCursorChainingMethod,
    ReadOnlyProperty,
    create_class_with_framework,
    declaration_for,
    generated_class,
)
from synchro._loop import FRAMEWORKS, LoopThread, loop_thread

# How a member of a declaration is exposed synchronously.
COROUTINE = "coroutine"  # awaited on the loop
ON_LOOP = "on-loop"  # called on the loop; an awaitable result is awaited
IN_CALLER = "in-caller"  # called in the caller's thread
PROPERTY = "property"  # read in the caller's thread

# Async protocol methods and their synchronous counterparts.
PROTOCOL_MAP = {"__aiter__": "__iter__", "__anext__": "__next__", "__aenter__": "__enter__", "__aexit__": "__exit__"}
# Synchronous special methods passed through as they are.
PASSED_SPECIALS = frozenset(
    {"__getitem__", "__call__", "__bool__", "__copy__", "__deepcopy__", "__len__", "__contains__",
     # Private-looking names that are public API: a GridFS file's _id.
     "_id"}
)
# Special methods motorlike defines only to refuse synchronous use.
REFUSING_SPECIALS = frozenset({"__iter__", "__next__", "__enter__", "__exit__"})


def classify(value: Any) -> str | None:
    """How the declaration member ``value`` is exposed, or None to skip it."""
    if isinstance(value, MotorAttributeFactory):
        if isinstance(value, AsyncCall):
            return COROUTINE
        if isinstance(value, ReadOnlyProperty):
            return PROPERTY
        if isinstance(value, DelegateMethod):
            return IN_CALLER
        if isinstance(value, MotorCursorChainingMethod):
            return ON_LOOP
        return ON_LOOP
    if isinstance(value, (staticmethod, classmethod)):
        return None
    if isinstance(value, property):
        return PROPERTY
    if is_async_method(value):
        return COROUTINE
    if inspect.isfunction(value):
        return ON_LOOP
    return None


def _declaration_chain(declaration: type) -> list[type]:
    return [klass for klass in declaration.__mro__ if issubclass(klass, AgnosticBase) and klass is not AgnosticBase]


def _pymongo_name(declaration: type) -> str:
    delegate_class = getattr(declaration, "__delegate_class__", None)
    if _wrapper_declarations.get(delegate_class) is declaration:
        return delegate_class.__name__
    name = getattr(declaration, "__motor_class_name__", None) or declaration.__name__
    for prefix in ("Motor", "Agnostic"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


class Synchro:
    """Base of the synchro classes: a synchronous face of one motorlike object."""

    #: Set on each generated class.
    _api: SynchroAPI
    _declaration: type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        api = self._api
        args, kwargs = api.unwrap_arguments(args, kwargs)
        motor_class = api.motor_class(self._declaration)
        self._motor = motor_class(*args, **kwargs)
        api.register(self)
        self._synchro_wrapped()

    @classmethod
    def _from_motor(cls, motor_object: Any) -> Synchro:
        self = cls.__new__(cls)
        self._motor = motor_object
        cls._api.register(self)
        self._synchro_wrapped()
        return self

    def _synchro_wrapped(self) -> None:
        """Hook: called once the motorlike object is set."""

    @property
    def delegate(self) -> Any:
        """The wrapped motorlike object (its ``delegate`` is the PyMongo one)."""
        return self._motor

    def _pymongo_object(self) -> Any:
        target = self._motor
        while isinstance(target, AgnosticBase):
            target = target.delegate
        return target

    def __getattr__(self, name: str) -> Any:
        motor = self.__dict__.get("_motor")
        if motor is None:
            raise AttributeError(name)
        if name.startswith("__"):
            raise AttributeError(name)
        if name.startswith("_"):
            # Private PyMongo state the tests inspect: read it, never wrap it.
            try:
                return getattr(self._pymongo_object(), name)
            except AttributeError:
                return getattr(motor, name)
        return self._api.wrap(getattr(motor, name), self)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Synchro):
            return self._motor == other._motor
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        try:
            return hash(self._motor)
        except TypeError:
            # motorlike's cursors and sessions are unhashable; PyMongo's are
            # hashable by identity, and one motorlike object has one wrapper.
            return id(self._motor) >> 4

    def __repr__(self) -> str:
        return repr(self._pymongo_object())


class _SyncContextManager:
    """A synchronous face of an async context manager motorlike returned."""

    __slots__ = ("_api", "_manager")

    def __init__(self, api: SynchroAPI, manager: Any) -> None:
        self._api = api
        self._manager = manager

    def __enter__(self) -> Any:
        return self._api.wrap(self._api.run(self._manager.__aenter__), None)

    def __exit__(self, *exc_info: Any) -> Any:
        return self._api.run(self._manager.__aexit__, *exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


def _make_member(api: SynchroAPI, name: str, kind: str, source: Any, public: Any = None) -> Any:
    """The synchro class attribute for the declaration member ``name``.

    ``public``: the same member on motorlike's generated class, whose
    signature (PyMongo's parameters) the synchronous method shows too, as
    PyMongo's tests inspect signatures.
    """
    target_name = name
    if kind == PROPERTY:

        def read(self: Synchro) -> Any:
            return api.wrap(getattr(self._motor, target_name), self)

        return property(read, doc=getattr(source, "__doc__", None))

    if kind == IN_CALLER:

        def call_here(self: Synchro, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = api.unwrap_arguments(args, kwargs)
            return api.wrap(getattr(self._motor, target_name)(*args, **kwargs), self)

        method = call_here
    else:

        def call_on_loop(self: Synchro, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = api.unwrap_arguments(args, kwargs)
            try:
                result = api.run(getattr(self._motor, target_name), *args, **kwargs)
            except StopAsyncIteration:
                raise StopIteration from None
            return api.wrap(result, self)

        method = call_on_loop
    method.__name__ = name
    method.__doc__ = getattr(public if callable(public) else source, "__doc__", None)
    if callable(public):
        try:
            method.__signature__ = inspect.signature(public)  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            pass
    return method


def _iter(self: Synchro) -> Synchro:
    return self


class SynchroAPI:
    """Synchro classes for one framework, and the loop they run on."""

    def __init__(self, framework: str) -> None:
        if framework not in FRAMEWORKS:
            raise ValueError(f"framework must be one of {FRAMEWORKS}, not {framework!r}")
        self.framework_name = framework
        if framework == "asyncio":
            from motorlike.frameworks import asyncio as framework_module
        else:
            from motorlike.frameworks import tornado as framework_module
        self.framework = framework_module
        self.loop: LoopThread = loop_thread(framework)
        self._classes: dict[type, type] = {}
        self._lock = threading.RLock()
        self._by_pymongo_object: dict[int, tuple[Any, Any]] = {}
        self._declared_types: dict[type, bool] = {}

    # -- running ----------------------------------------------------------

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the loop to completion (see :meth:`LoopThread.call`)."""
        return self.loop.call(fn, *args, **kwargs)

    # -- classes ----------------------------------------------------------

    def motor_class(self, declaration: type) -> type:
        return create_class_with_framework(declaration, self.framework, self.framework.GENERATED_MODULE)

    def synchro_class(self, declaration: type) -> type:
        """The synchro class for a motorlike declaration (made once)."""
        with self._lock:
            cls = self._classes.get(declaration)
            if cls is None:
                cls = self._classes[declaration] = self._build(declaration)
            return cls

    def _build(self, declaration: type) -> type:
        from synchro import _pymongo_sync

        bases = tuple(
            self.synchro_class(base)
            for base in declaration.__bases__
            if issubclass(base, AgnosticBase) and base is not AgnosticBase
        )
        name = _pymongo_name(declaration)
        namespace: dict[str, Any] = {
            "__module__": "synchro",
            "__qualname__": name,
            "_api": self,
            "_declaration": declaration,
            "__doc__": f"Synchronous {name} over motorlike's {declaration.__name__} ({self.framework_name}).",
        }
        mixin = _pymongo_sync.MIXINS.get(name)
        emulated = set(vars(mixin)) if mixin is not None else set()
        generated = generated_class(declaration, self.framework)
        for attr_name, value in vars(declaration).items():
            if attr_name in emulated or PROTOCOL_MAP.get(attr_name) in emulated:
                continue
            if attr_name in PROTOCOL_MAP:
                kind = classify(value)
                if kind is not None:
                    member = _make_member(self, attr_name, kind, value)
                    sync_name = PROTOCOL_MAP[attr_name]
                    if sync_name == "__iter__":
                        member = _iter
                    elif sync_name == "__enter__":
                        member = _enter_via(member)
                    namespace[sync_name] = member
                continue
            if attr_name in REFUSING_SPECIALS:
                continue
            if attr_name.startswith("_") and attr_name not in PASSED_SPECIALS:
                continue
            kind = classify(value)
            if kind is None:
                continue
            namespace[attr_name] = _make_member(
                self, attr_name, kind, value, inspect.getattr_static(generated, attr_name, None)
            )
        if mixin is not None:
            bases = (mixin, *bases)
        if not any(issubclass(base, Synchro) for base in bases):
            bases = (*bases, Synchro)
        return type(name, bases, namespace)

    def class_for_pymongo(self, pymongo_class: type) -> type | None:
        """The synchro class standing for a PyMongo class (or subclass), if any."""
        declaration = declaration_for(pymongo_class)
        return None if declaration is None else self.synchro_class(declaration)

    def classes(self) -> dict[str, type]:
        """Every synchro class, by PyMongo class name."""
        result = {}
        for pymongo_class, declaration in list(_wrapper_declarations.items()):
            if pymongo_class is None:
                continue
            result[pymongo_class.__name__] = self.synchro_class(declaration)
        result["LatentCommandCursor"] = self.synchro_class(core.AgnosticLatentCommandCursor)
        return result

    # -- wrapping ---------------------------------------------------------

    def _declaration_of(self, motor_object: Any) -> type:
        for klass in type(motor_object).__mro__:
            if "_framework" in vars(klass):
                continue  # a generated class; its declaration comes next
            if issubclass(klass, AgnosticBase):
                return klass
        raise TypeError(f"not a motorlike object: {motor_object!r}")

    def register(self, wrapper: Synchro) -> None:
        """Remember ``wrapper`` as the synchro object of its motorlike and PyMongo objects.

        Wrapping the same motorlike object again gives the same synchro
        object, and a PyMongo object that motorlike hands out unwrapped
        (``cursor.session`` is PyMongo's session, as in Motor) maps back to
        the synchro object the caller knows. Only weak references are kept.
        """
        motor = wrapper._motor
        vars(motor)["_synchro_wrapper"] = weakref.ref(wrapper)
        pymongo_object = motor.delegate
        if pymongo_object is None or isinstance(pymongo_object, AgnosticBase):
            return
        key = id(pymongo_object)
        registry = self._by_pymongo_object
        try:
            object_ref = weakref.ref(pymongo_object, lambda _, key=key: registry.pop(key, None))
        except TypeError:
            return
        registry[key] = (object_ref, weakref.ref(wrapper))

    def _known_wrapper(self, value: Any) -> Synchro | None:
        value_type = type(value)
        declared = self._declared_types.get(value_type)
        if declared is None:
            declared = self._declared_types[value_type] = declaration_for(value_type) is not None
        if not declared:
            return None
        entry = self._by_pymongo_object.get(id(value))
        if entry is None or entry[0]() is not value:
            return None
        return entry[1]()

    def wrap(self, value: Any, owner: Synchro | None) -> Any:
        """Turn what motorlike returned into what synchronous PyMongo returns."""
        if isinstance(value, AgnosticBase):
            if owner is not None and value is owner._motor:
                return owner
            known = vars(value).get("_synchro_wrapper")
            existing = known() if known is not None else None
            if existing is not None and type(existing)._api is self:
                return existing
            return self.synchro_class(self._declaration_of(value))._from_motor(value)
        known_wrapper = self._known_wrapper(value)
        if known_wrapper is not None:
            return known_wrapper
        if isinstance(value, tuple):
            if any(isinstance(item, AgnosticBase) for item in value):
                return tuple(self.wrap(item, owner) for item in value)
            return value
        if isinstance(value, list):
            if value and isinstance(value[0], AgnosticBase):
                return [self.wrap(item, owner) for item in value]
            return value
        if inspect.ismethod(value) and isinstance(value.__self__, AgnosticBase):
            # A property whose value is a method (GridOut.close): call it on the loop.
            return functools.partial(self._call_bound, value, owner)
        if hasattr(value, "__aenter__") and not hasattr(value, "__enter__") and not isinstance(value, type):
            return _SyncContextManager(self, value)
        return value

    def _call_bound(self, method: Any, owner: Synchro | None, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = self.unwrap_arguments(args, kwargs)
        return self.wrap(self.run(method, *args, **kwargs), owner)

    def unwrap(self, value: Any) -> Any:
        if isinstance(value, Synchro):
            return value._motor
        if type(value) in (list, tuple) and any(isinstance(item, Synchro) for item in value):
            return type(value)(self.unwrap(item) for item in value)
        return value

    def unwrap_arguments(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if args:
            args = tuple(self.unwrap(arg) for arg in args)
        if kwargs:
            kwargs = {key: self.unwrap(value) for key, value in kwargs.items()}
        return args, kwargs

    def run_sync_callback(self, callback: Callable[..., Any], *args: Any) -> Any:
        """From a coroutine on the loop: run a synchronous callback in a helper thread.

        The callback may use synchro (the loop stays free meanwhile). It runs
        in a copy of the coroutine's context.
        """
        import asyncio

        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(_callback_executor(), context.run, callback, *args)


def _enter_via(aenter: Callable[..., Any]) -> Callable[..., Any]:
    def enter(self: Synchro) -> Any:
        return aenter(self)

    enter.__name__ = "__enter__"
    return enter


_executor = None
_executor_lock = threading.Lock()


def _callback_executor() -> Any:
    global _executor
    with _executor_lock:
        if _executor is None:
            import concurrent.futures

            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="synchro-callback")
        return _executor


_apis: dict[str, SynchroAPI] = {}
_apis_lock = threading.Lock()


def api(framework: str) -> SynchroAPI:
    """The process-wide :class:`SynchroAPI` for ``framework``."""
    with _apis_lock:
        result = _apis.get(framework)
        if result is None:
            result = _apis[framework] = SynchroAPI(framework)
        return result
