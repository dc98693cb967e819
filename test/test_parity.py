"""Attribute parity: motorlike vs Motor 3.7 and vs the PyMongo classes wrapped.

Two mechanical checks for every generated class on both frameworks:

1. every public attribute Motor 3.7.1 had exists, with the same kind;
2. every public attribute of the wrapped PyMongo class is provided, or is
   on the short list of deliberate omissions below with the reason.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from motorlike import core
from motorlike.metaprogramming import MotorCursorChainingMethod, is_async_method
from test.motor_attributes import MOTOR_3_7_ATTRIBUTES
from tools.stubgen import instance_attribute_names

pytestmark = pytest.mark.no_server

FRAMEWORK_MODULES = {"asyncio": "motorlike.motor_asyncio", "tornado": "motorlike.motor_tornado"}
PREFIXES = {"asyncio": "AsyncIO", "tornado": ""}

# Declarations that live in modules of their own (issue: GridFS).
DECLARATION_MODULES = ("motorlike.core", "motorlike.motor_gridfs")

# PyMongo defines next() on these only to raise "object is not iterable"; in
# motorlike, as in Motor, the name gives a database or collection instead.
_NOT_ITERABLE = "PyMongo's guard that raises TypeError; the name is a database/collection here"

# Public PyMongo attributes motorlike deliberately does not offer, and why.
OMITTED_PYMONGO_ATTRIBUTES: dict[str, dict[str, str]] = {
    "AgnosticClient": {"next": _NOT_ITERABLE},
    "AgnosticDatabase": {"next": _NOT_ITERABLE},
    "AgnosticCollection": {"next": _NOT_ITERABLE},
    "AgnosticCursor": {},
    "AgnosticRawBatchCursor": {},
    "AgnosticCommandCursor": {},
    "AgnosticRawBatchCommandCursor": {},
    "AgnosticLatentCommandCursor": {},
    "AgnosticChangeStream": {},
    "AgnosticClientSession": {},
    "AgnosticClientEncryption": {},
    "AgnosticGridFSBucket": {},
    "AgnosticGridIn": {},
    "AgnosticGridOut": {},
    "AgnosticGridOutCursor": {},
}


def _declaration(name: str) -> type | None:
    for module_name in DECLARATION_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    return None


def _generated(framework: str, declaration: type) -> type:
    module = importlib.import_module(FRAMEWORK_MODULES[framework])
    return getattr(module, PREFIXES[framework] + declaration.__motor_class_name__)


def kind_of(cls: type, declaration: type, name: str) -> str | None:
    """What kind of attribute ``name`` is on generated class ``cls``."""
    try:
        value = inspect.getattr_static(cls, name)
    except AttributeError:
        return None
    if isinstance(inspect.getattr_static(declaration, name, None), MotorCursorChainingMethod):
        return "chain"
    if isinstance(value, property):
        return "property"
    if is_async_method(value):
        return "coroutine"
    if callable(value):
        return "method"
    return type(value).__name__


def _motor_cases():
    for declaration_name in sorted(MOTOR_3_7_ATTRIBUTES):
        for framework in FRAMEWORK_MODULES:
            yield pytest.param(framework, declaration_name, id=f"{framework}-{declaration_name}")


@pytest.mark.parametrize("framework, declaration_name", list(_motor_cases()))
def test_every_motor_attribute_with_its_kind(framework: str, declaration_name: str) -> None:
    declaration = _declaration(declaration_name)
    if declaration is None:
        pytest.skip(f"{declaration_name} is not built yet (motorlike.motor_gridfs: the GridFS issue)")
    cls = _generated(framework, declaration)
    problems = []
    for name, motor_kind in sorted(MOTOR_3_7_ATTRIBUTES[declaration_name].items()):
        ours = kind_of(cls, declaration, name)
        # Motor returned futures from some plain methods (to_list, open,
        # each ...); a coroutine or a Future-returning method both await.
        if ours != motor_kind:
            problems.append(f"{name}: Motor has {motor_kind}, motorlike has {ours}")
    assert not problems, f"{cls.__name__}:\n  " + "\n  ".join(problems)


def _pymongo_cases():
    for declaration_name in sorted(OMITTED_PYMONGO_ATTRIBUTES):
        for framework in FRAMEWORK_MODULES:
            yield pytest.param(framework, declaration_name, id=f"{framework}-{declaration_name}")


def _public_names(cls: type) -> set[str]:
    """The class's public names, and the plain attributes its instances get
    in ``__init__`` (a collection's ``database``, a cursor's ``collection``)."""
    return {name for name in dir(cls) if not name.startswith("_")} | instance_attribute_names(cls)


@pytest.mark.parametrize("framework, declaration_name", list(_pymongo_cases()))
def test_every_pymongo_attribute_is_provided_or_omitted_on_purpose(framework: str, declaration_name: str) -> None:
    declaration = _declaration(declaration_name)
    if declaration is None:
        pytest.skip(f"{declaration_name} is not built yet")
    cls = _generated(framework, declaration)
    pymongo_class = declaration.__delegate_class__
    omitted = OMITTED_PYMONGO_ATTRIBUTES[declaration_name]
    missing = sorted(name for name in _public_names(pymongo_class) - _public_names(cls) if name not in omitted)
    assert not missing, f"{cls.__name__} lacks {pymongo_class.__name__}'s {missing}"
    stale = sorted(name for name in omitted if name in _public_names(cls) or name not in _public_names(pymongo_class))
    assert not stale, f"omission list entries for {declaration_name} that no longer apply: {stale}"


@pytest.mark.parametrize("framework", list(FRAMEWORK_MODULES))
def test_generated_methods_carry_pymongo_signatures(framework: str) -> None:
    from pymongo.synchronous.collection import Collection

    cls = _generated(framework, core.AgnosticCollection)
    def shape(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    for name in ("insert_one", "find_one_and_update", "create_index", "with_options"):
        # PyMongo's parameters; annotations name motorlike's classes (a session).
        assert shape(getattr(cls, name)) == shape(getattr(Collection, name)), name
    assert getattr(cls, "insert_one").__doc__.startswith(Collection.insert_one.__doc__.split("\n")[0])
