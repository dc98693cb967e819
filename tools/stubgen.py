"""Generate motorlike's type stubs from the runtime declarations.

``python -m tools.stubgen`` writes ``core.pyi``, ``motor_gridfs.pyi``
(when :mod:`motorlike.motor_gridfs` exists), ``motor_asyncio.pyi`` and
``motor_tornado.pyi`` next to the modules; ``--check`` writes nothing and
exits 1 if a committed stub differs from a fresh generation (test_stubs runs
it, so stubs cannot go stale). Run it after changing a declaration or
upgrading PyMongo; the stubs' header records the PyMongo version used. The
stubs say nothing the runtime does not: every entry comes from a declaration
attribute or an ``inspect.signature``.

Declaration modules (core, motor_gridfs)
----------------------------------------
Every class in the module's ``__all__`` is stubbed with its runtime bases,
plus every class of the module an emitted annotation names
(``_MotorTransactionContext``, ``_BoundSession``). Names in ``__all__``
defined elsewhere (``AgnosticBase``) are re-exported. In a class ``D``:

=============================  =================================================
``AsyncCall``                  ``async def`` with the PyMongo method's parameters
                               and return type (``run=`` helpers: the helper's
                               signature, its first parameter becoming ``self``)
``DelegateMethod``             ``def``, likewise
``MotorCursorChainingMethod``  ``def`` with the PyMongo parameters, returning ``D``
``BackgroundMethod``           ``def`` with the PyMongo parameters, returning
                               ``BackgroundCall``
``ReadOnlyProperty``           ``@property`` typed by the PyMongo getter's return
                               annotation (a plain PyMongo class attribute: its
                               builtin type; anything else: ``Any``)
hand-written members           their own signature, annotations as written;
                               with ``@pymongo_parameters(f)``: ``f``'s parameters,
                               converted as for ``AsyncCall``, and their own return
instance attributes            public ``self.x = ...`` in the class's ``__init__``:
                               its annotation (``_DocumentType`` kept in a
                               generic class), ``bool`` for a bool literal, else Any
=============================  =================================================

The PyMongo member is looked up on ``D.__delegate_class__`` exactly as the
runtime does, so a factory declared on a base without a delegate class
(``AgnosticBaseProperties.codec_options``, ``AgnosticBaseCursor.address``) is
stubbed on each subclass that has one, and an inherited factory is stubbed
again on a subclass whenever its rendering differs there (a chaining method
returns the subclass; GridOutCursor overrides some Cursor methods).

PyMongo annotations are strings (``from __future__ import annotations``);
their names are resolved in the defining module, including imports made only
under ``if TYPE_CHECKING:`` (read from the module's source). Then:

* a public class becomes an import from the module defining it (or, if that
  module is private, from the public module the annotation named:
  ``asyncio.Future``); builtins stay bare; ``typing.Mapping`` and friends
  become their ``collections.abc`` / builtin origin; ``Optional[X]`` and
  ``Union[X, Y]`` are written ``X | None``, ``X | Y``;
* TypeVars (``_DocumentType`` ...), private classes and aliases
  (``_ServerMode``, ``_Pipeline`` ...) and anything unresolvable become
  ``Any``; a union containing ``Any`` is ``Any``; ``typing.Self`` is the
  PyMongo class; a generic class written bare (``dict``, ``Database``) gets
  ``Any`` arguments; an unannotated parameter is annotated ``Any``;
* PyMongo classes motorlike wraps (``ClientSession``, ``Database`` ...) become
  their declaration (``AgnosticClientSession`` ...), subscripts dropped: in
  the parameters of ``AsyncCall`` and ``DelegateMethod`` (the runtime unwraps
  motorlike arguments) and in the result of ``wrap=True`` factories.

Special cases, each a small table or rule below:

* members that exist only to refuse a misuse with a clear TypeError
  (``__iter__`` and ``__enter__`` on cursors, calling a collection ...) are
  left out (``_REFUSING``), so that a type checker reports the misuse too;
* a few hand-written members annotated ``-> Any`` get a precise return type
  from ``_RETURN_OVERRIDES`` (``to_list`` -> ``asyncio.Future[list[Any]]``
  ...); an override applies only while the runtime annotation is exactly
  ``Any``, so annotating the runtime makes it obsolete;
* ``__hash__ = None`` is stubbed only where it turns hashing off again, and
  a ``__hash__`` method only where it turns it back on, each with the
  ``# type: ignore`` that overriding a method by None (or back) needs.

Framework modules (motor_asyncio, motor_tornado)
------------------------------------------------
Each generated class ``F`` in the module's ``__all__`` is stubbed as
``class F(D)`` for its declaration ``D``. Members are inherited from ``D``'s
stub, except those whose return type names a motorlike declaration where a
subclass may stand instead (the type itself, a member of a union, an item of
a tuple): they are re-declared with the same parameters and that return type
narrowed, each declaration replaced by this framework's class for it, and
``D`` itself or a base of ``D`` by ``F``. So
``AsyncIOMotorDatabase.__getitem__`` returns ``AsyncIOMotorCollection`` and
``AsyncIOMotorCursor.limit`` and ``__aiter__`` return ``AsyncIOMotorCursor``.
Inside other generics nothing is narrowed (``Future[AgnosticGridOut]`` stays:
``Future`` is invariant, so a narrowed override would not type-check).
Instance attributes are narrowed the same way (``collection.database`` is
``AsyncIOMotorDatabase``): plain attributes, as Motor has them, that a
subclass may assign.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import collections.abc
import copy
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Iterator

from pymongo.typings import _DocumentType as _PYMONGO_DOCUMENT_TYPE

from motorlike.metaprogramming import (
    is_async_method,
    AsyncCall,
    BackgroundMethod,
    DelegateMethod,
    MotorAttributeFactory,
    MotorCursorChainingMethod,
    ReadOnlyProperty,
    declaration_for,
)

#: The package the stubs are written into (this tool lives beside it, in the
#: repository, and is not shipped).
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "motorlike"

# ---------------------------------------------------------------------------
# The document type. Classes that carry documents (client, database,
# collection, cursors, change streams) are generic in it, as Motor's are:
# AsyncIOMotorCollection[MyDoc].find_one() is MyDoc | None. It defaults to
# dict[str, Any], as PyMongo's document_class does.

#: Where the stubs' type variable is defined, and how.
DOCUMENT_TYPEVAR = ("motorlike.core", "_DocumentType")
DOCUMENT_TYPEVAR_DEFINITION = '_DocumentType = TypeVar("_DocumentType", bound=Mapping[str, Any], default=dict[str, Any])'
#: Declarations without a PyMongo class of their own that are generic.
GENERIC_BASES = {"AgnosticBaseProperties", "AgnosticBaseCursor"}
#: Declarations deriving from a generic one without being generic: what
#: they give it (a GridOutCursor's items are GridOuts, not mappings: its own
#: members say so, and its base is left open).
DOCUMENT_TYPE_OF: dict[str, tuple[str, str]] = {}


# ---------------------------------------------------------------------------
# The PyMongo versions the stubs must agree with: every one the package
# accepts (pyproject's dependency), checked by test_typing on the oldest.

#: Modules newer PyMongo defines classes in, and the module that re-exports
#: them in every accepted version.
STABLE_HOMES = {
    "pymongo.client_session_shared": "pymongo.client_session",
    "pymongo.encryption_shared": "pymongo.encryption",
}
#: Classes the oldest accepted PyMongo lacks: typed Any (they annotate
#: options that only newer versions accept).
NEWER_THAN_OLDEST_PYMONGO = {("pymongo.encryption_options", "StringOpts")}


def _is_generic(cls: type) -> bool:
    """Whether the stub of declaration ``cls`` is generic in the document type."""
    if cls.__name__ in GENERIC_BASES:
        return True
    delegate = getattr(cls, "__delegate_class__", None)
    return delegate is not None and _PYMONGO_DOCUMENT_TYPE in getattr(delegate, "__parameters__", ())


def _is_generic_ref(ref: str) -> bool:
    module, qualname = ref.split(":", 1)
    try:
        cls = functools.reduce(getattr, qualname.split("."), importlib.import_module(module))
    except (ImportError, AttributeError):
        return False
    if not isinstance(cls, type):
        return False
    declaration = cls if module in DECLARATION_MODULES else cls.__bases__[0]
    return _is_generic(declaration)
DECLARATION_MODULES = ("motorlike.core", "motorlike.motor_gridfs")
FRAMEWORK_MODULES = ("motorlike.motor_asyncio", "motorlike.motor_tornado", "motorlike.motor_trio")

HEADER = (
    "# Generated by 'python -m tools.stubgen' from the runtime declarations\n"
    "# and PyMongo {pymongo_version}. Do not edit.\n"
)


def pymongo_version() -> str:
    """PyMongo's release series, ``major.minor``: patch releases keep their signatures."""
    import pymongo

    return ".".join(str(part) for part in pymongo.version_tuple[:2])


def recorded_pymongo_version(stub_text: str) -> str | None:
    """The PyMongo version a stub was generated from, as its header says."""
    prefix = "# and PyMongo "
    for line in stub_text.splitlines()[:3]:
        if line.startswith(prefix):
            return line[len(prefix) :].split()[0].rstrip(".")
    return None


#: Members that exist only to raise a helpful TypeError; left out of the stubs.
_REFUSING = {
    ("AgnosticBaseCursor", "__enter__"),
    ("AgnosticBaseCursor", "__exit__"),
    ("AgnosticBaseCursor", "__iter__"),
    ("AgnosticBaseProperties", "__iter__"),
    ("AgnosticChangeStream", "__enter__"),
    ("AgnosticChangeStream", "__exit__"),
    ("AgnosticClientSession", "__enter__"),
    ("AgnosticClientSession", "__exit__"),
    ("AgnosticCollection", "__call__"),
    ("AgnosticDatabase", "__call__"),
}

#: (class, member) -> return annotation, resolved in the class's module, used
#: while the runtime annotation is ``Any``.
_RETURN_OVERRIDES = {
    ("AgnosticBaseCursor", "to_list"): "asyncio.Future[list[_DocumentType]]",
    ("AgnosticBaseCursor", "fetch_next"): "asyncio.Future[bool]",
    ("AgnosticClient", "__getattr__"): "AgnosticDatabase[_DocumentType]",
    ("AgnosticDatabase", "__getattr__"): "AgnosticCollection[_DocumentType]",
    ("AgnosticCollection", "__getattr__"): "AgnosticCollection[_DocumentType]",
    ("AgnosticGridOutCursor", "to_list"): "asyncio.Future[list[AgnosticGridOut]]",
    ("AgnosticGridOut", "open"): "asyncio.Future[AgnosticGridOut]",
}

#: Private names that are public API (GridFS files' ``_id``).
_PUBLIC_PRIVATE_NAMES = {"_id"}

# ---------------------------------------------------------------------------
# Annotations: ast expressions whose names are references "module:qualname".


def _ref(module: str, qualname: str) -> ast.Name:
    return ast.Name(id=f"{module}:{qualname}", ctx=ast.Load())


def _any() -> ast.Name:
    return _ref("typing", "Any")


def _none() -> ast.Constant:
    return ast.Constant(value=None)


def _ref_id(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) and ":" in node.id else None


def _is_any(node: ast.expr) -> bool:
    return _ref_id(node) == "typing:Any"


def _refs(node: ast.expr | None) -> Iterator[str]:
    if node is None:
        return
    for child in ast.walk(node):
        ref = _ref_id(child)  # type: ignore[arg-type]
        if ref is not None:
            yield ref


def _union(parts: list[ast.expr]) -> ast.expr:
    flat: list[ast.expr] = []
    seen: set[str] = set()
    for part in parts:
        pieces = [part]
        while pieces:
            piece = pieces.pop(0)
            if isinstance(piece, ast.BinOp) and isinstance(piece.op, ast.BitOr):
                pieces[:0] = [piece.left, piece.right]
                continue
            if _is_any(piece):
                return _any()
            key = ast.dump(piece)
            if key not in seen:
                seen.add(key)
                flat.append(piece)
    # None last, as is usual.
    flat.sort(key=lambda piece: isinstance(piece, ast.Constant) and piece.value is None)
    result = flat[0]
    for piece in flat[1:]:
        result = ast.BinOp(left=result, op=ast.BitOr(), right=piece)
    return result


@functools.lru_cache(maxsize=None)
def _source_imports(module_name: str) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, attribute) for every import in a module's source.

    Includes imports under ``if TYPE_CHECKING:``, which PyMongo's string
    annotations rely on and which are not in the module's namespace.
    """
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return {}
    found: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    found[top] = (top, None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), module.__package__ or "")
            else:
                base = node.module or ""
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = (base, alias.name)
    return found


def _lookup(module_name: str, name: str) -> Any:
    """What ``name`` means in an annotation written in ``module_name``."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    namespace = vars(module)
    if name in namespace:
        return namespace[name]
    if hasattr(builtins, name):
        return getattr(builtins, name)
    imported = _source_imports(module_name).get(name)
    if imported is not None:
        target, attribute = imported
        target_module = importlib.import_module(target)
        if attribute is None:
            return target_module
        if hasattr(target_module, attribute):
            return getattr(target_module, attribute)
        return importlib.import_module(f"{target}.{attribute}")
    # A fully qualified name ("asyncio.Future"), as the overrides use.
    return importlib.import_module(name)


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *parts]
    return None


@dataclasses.dataclass(frozen=True)
class _Context:
    #: Module whose names string annotations use.
    module: str
    #: What typing.Self means: the PyMongo class.
    self_class: type | None = None
    #: Replace PyMongo classes motorlike wraps by their declarations.
    motorlike: bool = False
    #: Inside a class generic in the document type: PyMongo's _DocumentType
    #: becomes the stubs' own type variable (else Any).
    generic: bool = False


def _typing_name(obj: Any) -> tuple[str, str] | None:
    for module in (typing, sys.modules.get("typing_extensions")):
        if module is None:
            continue
        for name, value in vars(module).items():
            if value is obj and not name.startswith("_"):
                return module.__name__, name
    return None


def _is_self(obj: Any) -> bool:
    return _typing_name(obj) in {("typing", "Self"), ("typing_extensions", "Self")}


def _class_ref(cls: type, context: _Context, public_path: tuple[str, str] | None = None) -> ast.expr:
    """A reference to ``cls``, importable from where it is defined or else from
    ``public_path`` (the module and name an annotation reached it by, for
    classes defined in private modules: ``asyncio.Future`` is ``_asyncio.Future``)."""
    if context.motorlike:
        declaration = declaration_for(cls)
        if declaration is not None:
            return _ref(declaration.__module__, declaration.__qualname__)
    module, qualname = cls.__module__, cls.__qualname__
    if module == "builtins":
        return _none() if cls is type(None) else _class_reference(module, qualname, cls)
    if module == "motorlike" or module.startswith("motorlike."):
        return _ref(module, qualname)
    if (module, qualname) in NEWER_THAN_OLDEST_PYMONGO:
        return _any()
    module = STABLE_HOMES.get(module, module)
    candidates = [(module, qualname)] if public_path is None else [(module, qualname), public_path]
    for module, qualname in candidates:
        if any(part.startswith("_") for part in module.split(".")) or any(
            part.startswith("_") or part == "<locals>" for part in qualname.split(".")
        ):
            continue
        try:
            found = functools.reduce(getattr, qualname.split("."), importlib.import_module(module))
        except (ImportError, AttributeError):
            continue
        if found is cls:
            return _class_reference(module, qualname, cls)
    return _any()


#: Reference -> class, for the classes references were made to.
_referenced_classes: dict[str, type] = {}


def _class_reference(module: str, qualname: str, cls: type) -> ast.Name:
    reference = _ref(module, qualname)
    _referenced_classes[reference.id] = cls
    return reference


@functools.lru_cache(maxsize=None)
def _typing_arities() -> dict[type, int]:
    """Number of type parameters of builtin and collections.abc generics,
    from typing's aliases of them (typing.Dict, typing.Mapping ...)."""
    arities: dict[type, int] = {}
    for value in vars(typing).values():
        origin, count = getattr(value, "__origin__", None), getattr(value, "_nparams", None)
        if isinstance(origin, type) and isinstance(count, int) and count > 0:
            arities.setdefault(origin, count)
    return arities


def _fill_generics(node: ast.expr) -> ast.expr:
    """Give generic classes written bare (``dict``, ``Database``) ``Any`` arguments."""
    if isinstance(node, ast.Subscript):
        node.slice = _fill_generics(node.slice)
        return node
    if isinstance(node, ast.BinOp):
        node.left, node.right = _fill_generics(node.left), _fill_generics(node.right)
        return node
    if isinstance(node, (ast.Tuple, ast.List)):
        node.elts = [_fill_generics(element) for element in node.elts]
        return node
    cls = _referenced_classes.get(_ref_id(node) or "")
    if cls is None:
        return node
    if cls is tuple:
        arguments: list[ast.expr] = [_any(), ast.Constant(value=Ellipsis)]
    elif cls is collections.abc.Callable:
        arguments = [ast.Constant(value=Ellipsis), _any()]
    else:
        parameters = getattr(cls, "__parameters__", None)
        count = len(parameters) if isinstance(parameters, tuple) else _typing_arities().get(cls, 0)
        if not count:
            return node
        arguments = [_any() for _ in range(count)]
    slice_ = arguments[0] if len(arguments) == 1 else ast.Tuple(elts=arguments, ctx=ast.Load())
    return ast.Subscript(value=node, slice=slice_, ctx=ast.Load())


def _convert_object(obj: Any, context: _Context, public_path: tuple[str, str] | None = None) -> ast.expr:
    """An annotation given as an object (not a string)."""
    if obj is None or obj is type(None):
        return _none()
    if obj is Any:
        return _any()
    if isinstance(obj, typing.TypeVar):
        return _ref(*DOCUMENT_TYPEVAR) if context.generic and obj is _PYMONGO_DOCUMENT_TYPE else _any()
    if _is_self(obj):
        return _any() if context.self_class is None else _class_ref(context.self_class, context)
    if isinstance(obj, str):
        return _convert(obj, context)
    origin, args = typing.get_origin(obj), typing.get_args(obj)
    if origin is not None and args:
        if origin is typing.Union or origin is types.UnionType:
            return _union([_convert_object(arg, context) for arg in args])
        if origin is typing.Literal:
            return ast.Subscript(
                value=_ref("typing", "Literal"),
                slice=ast.Tuple(elts=[ast.Constant(value=arg) for arg in args], ctx=ast.Load()),
                ctx=ast.Load(),
            )
        base = _convert_object(origin, context)
        if _is_any(base) or _ref_id(base) is None:
            return base
        if _ref_id(base).startswith("motorlike") and not _is_generic_ref(_ref_id(base)):  # type: ignore[union-attr]
            return base
        elements = [
            ast.List(elts=[_convert_object(a, context) for a in arg], ctx=ast.Load())
            if isinstance(arg, list)
            else ast.Constant(value=Ellipsis)
            if arg is Ellipsis
            else _convert_object(arg, context)
            for arg in args
        ]
        slice_ = elements[0] if len(elements) == 1 else ast.Tuple(elts=elements, ctx=ast.Load())
        return ast.Subscript(value=base, slice=slice_, ctx=ast.Load())
    if isinstance(obj, type):
        return _class_ref(obj, context, public_path)
    if origin is not None and isinstance(origin, type):
        # typing.Mapping, typing.List ... : their collections.abc / builtin origin.
        return _class_ref(origin, context)
    named = _typing_name(obj)
    if named is not None:
        return _ref(*named)
    return _any()


def _convert_node(node: ast.expr, context: _Context) -> ast.expr:
    if isinstance(node, ast.Constant):
        if node.value is None:
            return _none()
        if node.value is Ellipsis:
            return ast.Constant(value=Ellipsis)
        if isinstance(node.value, str):
            return _convert(node.value, context)
        return _any()
    if isinstance(node, (ast.Name, ast.Attribute)):
        parts = _dotted(node)
        if parts is None:
            return _any()
        try:
            obj = _lookup(context.module, parts[0])
            public_path = None
            if len(parts) == 1:
                imported = _source_imports(context.module).get(parts[0])
                if imported is not None and imported[1] is not None:
                    public_path = (imported[0], imported[1])
            for part in parts[1:]:
                if isinstance(obj, types.ModuleType):
                    public_path = (obj.__name__, part)
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            return _any()
        if isinstance(obj, types.ModuleType):
            return _any()
        return _convert_object(obj, context, public_path)
    if isinstance(node, ast.Subscript):
        base = _convert_node(node.value, context)
        base_id = _ref_id(base)
        if base_id is None or base_id == "typing:Any":
            return base  # not subscriptable as written
        if base_id.startswith("motorlike") and not _is_generic_ref(base_id):
            return base  # a motorlike class that is not generic
        arguments = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base_id in ("typing:Optional", "typing:Union"):
            members = [_convert_node(argument, context) for argument in arguments]
            return _union(members + ([_none()] if base_id == "typing:Optional" else []))
        if base_id in ("typing:Literal", "typing_extensions:Literal"):
            if all(isinstance(argument, ast.Constant) for argument in arguments):
                return ast.Subscript(value=_ref("typing", "Literal"), slice=node.slice, ctx=ast.Load())
            return _any()
        converted = [_convert_node(argument, context) for argument in arguments]
        slice_ = ast.Tuple(elts=converted, ctx=ast.Load()) if isinstance(node.slice, ast.Tuple) else converted[0]
        return ast.Subscript(value=base, slice=slice_, ctx=ast.Load())
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([_convert_node(node.left, context), _convert_node(node.right, context)])
    if isinstance(node, ast.List):
        return ast.List(elts=[_convert_node(element, context) for element in node.elts], ctx=ast.Load())
    if isinstance(node, ast.Tuple):
        return ast.Tuple(elts=[_convert_node(element, context) for element in node.elts], ctx=ast.Load())
    return _any()


def _convert(annotation: Any, context: _Context) -> ast.expr:
    if isinstance(annotation, str):
        try:
            node = ast.parse(annotation, mode="eval").body
        except SyntaxError:
            return _any()
        return _fill_generics(_convert_node(node, context))
    return _fill_generics(_convert_object(annotation, context))


# ---------------------------------------------------------------------------
# Members


@dataclasses.dataclass
class _Param:
    name: str
    kind: inspect._ParameterKind
    annotation: ast.expr | None
    has_default: bool


@dataclasses.dataclass
class _Member:
    name: str
    #: "async", "def", "property", "classmethod", "staticmethod" or "attribute".
    kind: str
    params: list[_Param] = dataclasses.field(default_factory=list)
    #: Return type, property type or attribute type.
    returns: ast.expr | None = None
    #: An error code for "# type: ignore[...]".
    ignore: str | None = None

    def key(self) -> str:
        params = [(p.name, p.kind, None if p.annotation is None else ast.dump(p.annotation), p.has_default) for p in self.params]
        return repr((self.name, self.kind, params, None if self.returns is None else ast.dump(self.returns), self.ignore))

    def with_returns(self, returns: ast.expr) -> _Member:
        return dataclasses.replace(self, returns=returns)


def _signature_member(
    name: str,
    kind: str,
    signature: inspect.Signature,
    params_context: _Context,
    returns: ast.expr | None,
) -> _Member:
    params = []
    for index, parameter in enumerate(signature.parameters.values()):
        annotation: ast.expr | None
        if index == 0 and kind != "staticmethod":
            annotation = None  # self / cls
        elif parameter.annotation is inspect.Parameter.empty:
            annotation = _any()  # as a stub leaves it implicitly
        else:
            annotation = _convert(parameter.annotation, params_context)
        params.append(_Param(parameter.name, parameter.kind, annotation, parameter.default is not inspect.Parameter.empty))
    return _Member(name, kind, params, returns)


def _return_annotation(function: Any, context: _Context, name: str) -> ast.expr:
    annotation = inspect.signature(function).return_annotation
    if annotation is inspect.Signature.empty:
        return _none() if name == "__init__" else _any()
    return _convert(annotation, context)


_ANY_ARGUMENTS = inspect.Signature(
    [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL, annotation="Any"),
        inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation="Any"),
    ]
)


def _module_of(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) and module in sys.modules else "builtins"


def _factory_member(cls: type, name: str, factory: MotorAttributeFactory) -> _Member:
    """The stub of a factory attribute as generated for declaration ``cls``."""
    delegate_class = cls.__delegate_class__  # type: ignore[attr-defined]
    pymongo_name = factory.attr_name or name
    returns: ast.expr
    if isinstance(factory, ReadOnlyProperty):
        member = inspect.getattr_static(delegate_class, pymongo_name, None)
        if isinstance(member, property) and member.fget is not None:
            context = _Context(_module_of(member.fget), delegate_class, factory.wrap, generic=_is_generic(cls))
            returns = _return_annotation(member.fget, context, name)
        elif type(member) in (str, int, float, bool, bytes):
            returns = _ref("builtins", type(member).__name__)
        else:
            returns = _any()
        return _Member(name, "property", [_Param("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, None, False)], returns)

    kind = "async" if isinstance(factory, AsyncCall) else "def"
    background = isinstance(factory, BackgroundMethod)
    run = getattr(factory, "run", None)
    if run is not None:
        signature = inspect.signature(run)
        parameters = list(signature.parameters.values())
        signature = signature.replace(parameters=[parameters[0].replace(name="self"), *parameters[1:]])
        module = _module_of(run)
        self_class = None
    else:
        member = inspect.getattr_static(delegate_class, pymongo_name, None)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        try:
            signature = inspect.signature(member) if callable(member) else _ANY_ARGUMENTS
        except (TypeError, ValueError):
            signature = _ANY_ARGUMENTS
        module = _module_of(member) if signature is not _ANY_ARGUMENTS else "typing"
        self_class = delegate_class
    chaining = isinstance(factory, MotorCursorChainingMethod)
    if chaining:
        returns = _self_type(cls)
    elif background:
        returns = _ref("motorlike.core", "BackgroundCall")
    elif signature.return_annotation is inspect.Signature.empty:
        returns = _any()
    else:
        returns = _convert(signature.return_annotation, _Context(module, self_class, factory.wrap, _is_generic(cls)))
    # Arguments are unwrapped (motorlike objects -> PyMongo's) except by chaining methods.
    params_context = _Context(module, self_class, motorlike=not chaining, generic=_is_generic(cls))
    return _signature_member(name, kind, signature, params_context, returns)


def _override(cls: type, name: str, annotation: Any, context: _Context) -> ast.expr | None:
    replacement = _RETURN_OVERRIDES.get((cls.__name__, name))
    if replacement is not None and annotation in ("Any", Any):
        return _convert(replacement, context)
    return None


def _handwritten_member(cls: type, name: str, value: Any) -> _Member | None:
    if name == "__hash__":
        # Hashability switched off (None) or back on: the one place a stub must
        # override a method by None or None by a method.
        inherited = next(vars(k)["__hash__"] for k in cls.__mro__[1:] if "__hash__" in vars(k))
        if value is None:
            if inherited is None:
                return None
            return _Member(
                name,
                "attribute",
                returns=ast.Subscript(value=_ref("typing", "ClassVar"), slice=_none(), ctx=ast.Load()),
                ignore="assignment",
            )
        if inherited is None and inspect.isfunction(value):
            context = _Context(value.__module__)
            returns = _return_annotation(value, context, name)
            member = _signature_member(name, "def", inspect.signature(value), context, returns)
            member.ignore = "override"
            return member
    if isinstance(value, property):
        if value.fget is None:
            return None
        context = _Context(value.fget.__module__, generic=_is_generic(cls))
        annotation = inspect.signature(value.fget).return_annotation
        returns = _override(cls, name, annotation, context) or _return_annotation(value.fget, context, name)
        return _Member(name, "property", [_Param("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, None, False)], returns)
    if isinstance(value, (staticmethod, classmethod)):
        kind, function = type(value).__name__, value.__func__
    elif inspect.isfunction(value):
        kind, function = ("async" if is_async_method(value) else "def"), value
    elif callable(value):
        return None
    else:
        value_type = type(value)
        returns = _ref("builtins", value_type.__name__) if value_type.__module__ == "builtins" else _any()
        return _Member(name, "attribute", returns=returns)
    context = _Context(function.__module__, generic=_is_generic(cls))
    signature = inspect.signature(function)
    returns = _override(cls, name, signature.return_annotation, context) or _return_annotation(function, context, name)
    source = getattr(function, "__pymongo_parameters__", None)
    if source is not None:
        # Parameters shown as PyMongo's (metaprogramming.pymongo_parameters):
        # their annotations are PyMongo's, read where PyMongo wrote them.
        source_context = _Context(
            _module_of(source), getattr(cls, "__delegate_class__", None), motorlike=True, generic=_is_generic(cls)
        )
        return _signature_member(name, kind, signature, source_context, returns)
    return _signature_member(name, kind, signature, context, returns)


def _instance_attributes(cls: type) -> list[_Member]:
    """Public attributes the class's own ``__init__`` assigns to ``self``."""
    init = vars(cls).get("__init__")
    if not inspect.isfunction(init):
        return []
    tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    class_names = {name for klass in cls.__mro__ for name in vars(klass)}
    members: dict[str, _Member] = {}
    target: ast.expr
    annotation: ast.expr | None
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            target, annotation, value = node.target, node.annotation, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, annotation, value = node.targets[0], None, node.value
        else:
            continue
        if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"):
            continue
        name = target.attr
        if name.startswith("_") or name in class_names or name in members:
            continue
        if annotation is not None:
            returns = _convert(ast.unparse(annotation), _Context(init.__module__, generic=_is_generic(cls)))
        elif isinstance(value, ast.Constant) and isinstance(value.value, bool):
            returns = _ref("builtins", "bool")
        else:
            returns = _any()
        members[name] = _Member(name, "attribute", returns=returns)
    return sorted(members.values(), key=lambda member: member.name)


def instance_attribute_names(cls: type) -> set[str]:
    """Public attributes the ``__init__`` of ``cls`` or of a base assigns
    (``collection.database``, ``cursor.collection`` ...: plain attributes, as in Motor)."""
    return {member.name for klass in cls.__mro__ for member in _instance_attributes(klass)}


def _is_stubbed_name(name: str, value: Any) -> bool:
    if name in _PUBLIC_PRIVATE_NAMES:
        return True
    if name.startswith("__") and name.endswith("__"):
        if name == "__hash__":
            return True
        return isinstance(value, (MotorAttributeFactory, property, staticmethod, classmethod)) or inspect.isfunction(value)
    return not name.startswith("_")


def _is_private_mixin(base: type) -> bool:
    """A base named ``_Something``: shared code of a few classes, not a type of the API."""
    return base.__name__.startswith("_") and base is not object


def _own_namespace(cls: type) -> dict[str, Any]:
    """``vars(cls)`` with its private mixins' members folded in (the class's own win):
    the stub declares them in the class, whose bases omit the mixin."""
    namespace: dict[str, Any] = {}
    for base in reversed(cls.__bases__):
        if _is_private_mixin(base):
            namespace.update(vars(base))
    namespace.update(vars(cls))
    return namespace


class _Stubber:
    """Builds the members of stubbed classes, once each."""

    def __init__(self) -> None:
        self._members: dict[type, dict[str, _Member]] = {}

    def members(self, cls: type) -> dict[str, _Member]:
        """The members the stub of ``cls`` declares in its own body."""
        if cls not in self._members:
            self._members[cls] = self._build(cls)
        return self._members[cls]

    def effective(self, cls: type, name: str, stubbed: set[type]) -> _Member | None:
        """The member ``name`` of ``cls``'s stub, own or inherited from stubbed bases."""
        for klass in cls.__mro__:
            if klass in stubbed:
                member = self.members(klass).get(name)
                if member is not None:
                    return member
        return None

    def all_members(self, cls: type, stubbed: set[type]) -> dict[str, _Member]:
        result: dict[str, _Member] = {}
        for klass in cls.__mro__:
            if klass in stubbed:
                for name, member in self.members(klass).items():
                    result.setdefault(name, member)
        return result

    def _build(self, cls: type) -> dict[str, _Member]:
        members: dict[str, _Member] = {}
        has_delegate = getattr(cls, "__delegate_class__", None) is not None
        for name, value in _own_namespace(cls).items():
            if not _is_stubbed_name(name, value) or (cls.__name__, name) in _REFUSING:
                continue
            if isinstance(value, MotorAttributeFactory):
                if has_delegate:
                    members[name] = _factory_member(cls, name, value)
                continue
            member = _handwritten_member(cls, name, value)
            if member is not None:
                members[name] = member
        if has_delegate:
            # Inherited factories, rendered for this class's PyMongo class: the
            # most derived definition along the MRO wins, as at runtime.
            seen = set(_own_namespace(cls))
            for klass in cls.__mro__[1:]:
                for name, value in vars(klass).items():
                    if name in seen:
                        continue
                    seen.add(name)
                    if not isinstance(value, MotorAttributeFactory) or not _is_stubbed_name(name, value):
                        continue
                    if (klass.__name__, name) in _REFUSING:
                        continue
                    member = _factory_member(cls, name, value)
                    inherited = self._inherited(cls, name)
                    if inherited is None or inherited.key() != member.key():
                        members[name] = member
        for member in _instance_attributes(cls):
            if self._inherited(cls, member.name) is None:
                members.setdefault(member.name, member)
        return members

    def _inherited(self, cls: type, name: str) -> _Member | None:
        for klass in cls.__mro__[1:]:
            if klass.__module__ in DECLARATION_MODULES:
                member = self.members(klass).get(name)
                if member is not None:
                    return member
        return None


# ---------------------------------------------------------------------------
# Rendering


class _Imports:
    """The imports of one stub module and the local name of each reference."""

    def __init__(self, module: str, defined: Iterable[str]) -> None:
        self.module = module
        self.defined = set(defined)
        self._local: dict[tuple[str, str], str] = {}
        self._taken: dict[str, tuple[str, str]] = {name: (module, name) for name in self.defined}
        #: (module, name, local) imported under a second name, for a class body
        #: where the first one is a member's name.
        self._aliases: set[tuple[str, str, str]] = set()
        self._reexported: set[tuple[str, str]] = set()
        self.import_builtins = False

    def local(self, ref: str, avoid: set[str]) -> str:
        module, qualname = ref.split(":", 1)
        top, _, rest = qualname.partition(".")
        if module == self.module:
            name = top
        elif module == "builtins":
            if top in avoid:
                self.import_builtins = True
                return f"builtins.{qualname}"
            return qualname
        else:
            name = self._import(module, top, avoid)
        return f"{name}.{rest}" if rest else name

    def _import(self, module: str, name: str, avoid: set[str]) -> str:
        key = (module, name)
        local = self._local.get(key)
        if local is not None and local not in avoid:
            return local
        candidates = [name, "_" + module.replace(".", "_") + "_" + name]
        for candidate in candidates:
            if candidate in avoid:
                continue
            owner = self._taken.get(candidate)
            if owner is None or owner == key:
                self._taken[candidate] = key
                self._local.setdefault(key, candidate)
                if self._local[key] != candidate:
                    self._aliases.add((module, name, candidate))
                return candidate
        raise RuntimeError(f"no free local name for {module}.{name}")

    def reexport(self, module: str, name: str) -> None:
        """Import ``name`` as ``name``: a re-export (it is in ``__all__``)."""
        key = (module, name)
        if self._taken.get(name, key) != key:
            raise RuntimeError(f"{module}.{name}: its name is taken")
        self._taken[name] = key
        self._local[key] = name
        self._reexported.add(key)

    def lines(self) -> list[str]:
        """Import statements: standard library, third party, motorlike."""
        groups: list[dict[str, list[str]]] = [{}, {}, {}]
        entries = {(module, name, local) for (module, name), local in self._local.items()} | self._aliases
        for module, name, local in entries:
            text = f"{name} as {local}" if local != name or (module, name) in self._reexported else name
            top = module.split(".")[0]
            index = 2 if top == "motorlike" else 0 if top in sys.stdlib_module_names else 1
            groups[index].setdefault(module, []).append(text)
        blocks = []
        if self.import_builtins:
            groups[0].setdefault("", [])
        for group in groups:
            lines = []
            for module in sorted(group):
                if module == "":
                    lines.append("import builtins")
                else:
                    names = sorted(group[module])
                    line = f"from {module} import {', '.join(names)}"
                    if len(line) > _LINE_LENGTH:
                        line = f"from {module} import (\n" + "".join(f"    {name},\n" for name in names) + ")"
                    lines.append(line)
            if lines:
                blocks.append("\n".join(lines))
        return blocks


def _render_annotation(node: ast.expr, imports: _Imports, avoid: set[str]) -> str:
    class Localize(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.expr:
            ref = _ref_id(name)
            if ref is None:
                return name
            return ast.parse(imports.local(ref, avoid), mode="eval").body

    return ast.unparse(Localize().visit(copy.deepcopy(node)))


_LINE_LENGTH = 120


_STAR_PREFIXES: dict[inspect._ParameterKind, str] = {
    inspect.Parameter.VAR_POSITIONAL: "*",
    inspect.Parameter.VAR_KEYWORD: "**",
}


def _render_params(params: list[_Param], imports: _Imports, avoid: set[str]) -> list[str]:
    rendered: list[str] = []
    positional_only = any(p.kind is inspect.Parameter.POSITIONAL_ONLY for p in params)
    star_done = False
    for index, param in enumerate(params):
        if param.kind is inspect.Parameter.KEYWORD_ONLY and not star_done:
            rendered.append("*")
            star_done = True
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            star_done = True
        prefix = _STAR_PREFIXES.get(param.kind, "")
        text = prefix + param.name
        if param.annotation is not None:
            text += ": " + _render_annotation(param.annotation, imports, avoid)
            if param.has_default:
                text += " = ..."
        elif param.has_default:
            text += "=..."
        rendered.append(text)
        if positional_only and param.kind is inspect.Parameter.POSITIONAL_ONLY and (
            index + 1 == len(params) or params[index + 1].kind is not inspect.Parameter.POSITIONAL_ONLY
        ):
            rendered.append("/")
    return rendered


def _render_member(member: _Member, imports: _Imports, avoid: set[str], indent: str = "    ") -> list[str]:
    returns = "Any" if member.returns is None else _render_annotation(member.returns, imports, avoid)
    if member.kind == "attribute":
        line = f"{indent}{member.name}: {returns}"
        if member.ignore:
            line += f"  # type: ignore[{member.ignore}]"
        return [line]
    lines = []
    if member.kind in ("property", "classmethod", "staticmethod"):
        lines.append(f"{indent}@{member.kind}")
    keyword = "async def" if member.kind == "async" else "def"
    params = _render_params(member.params, imports, avoid)
    ignore = f"  # type: ignore[{member.ignore}]" if member.ignore else ""
    line = f"{indent}{keyword} {member.name}({', '.join(params)}) -> {returns}: ...{ignore}"
    if len(line) <= _LINE_LENGTH:
        return lines + [line]
    lines.append(f"{indent}{keyword} {member.name}(")
    lines.extend(f"{indent}    {param}," for param in params)
    lines.append(f"{indent}) -> {returns}: ...{ignore}")
    return lines


def _render_class(
    name: str, bases: list[ast.expr], members: Iterable[_Member], imports: _Imports, docstring: str | None = None
) -> list[str]:
    members = list(members)
    avoid = {member.name for member in members}
    base_text = ", ".join(_render_annotation(base, imports, set()) for base in bases)
    lines = [f"class {name}({base_text}):" if base_text else f"class {name}:"]
    for member in members:
        lines.extend(_render_member(member, imports, avoid))
    if not members:
        lines.append("    ...")
    return lines


def _finish(imports: _Imports, body: list[str], exported: list[str]) -> str:
    parts = [HEADER.format(pymongo_version=pymongo_version())]
    parts.extend(block + "\n" for block in imports.lines())
    parts.append("__all__ = [\n" + "".join(f'    "{name}",\n' for name in exported) + "]\n")
    parts.append("\n\n".join(body) + "\n" if body else "")
    return "\n".join(part for part in parts if part)


def _bases(cls: type) -> list[ast.expr]:
    """The stub's bases: a generic base gets the document type (``AgnosticCursor[_DocumentType]``),
    and the first generic class of a hierarchy ``Generic[_DocumentType]``."""
    bases: list[ast.expr] = []
    generic_base = False
    for base in cls.__bases__:
        if base is object or _is_private_mixin(base):
            continue
        ref = _class_ref(base, _Context(cls.__module__))
        if _is_generic(base):
            generic_base = True
            ref = _subscript(ref, _document_type_of(cls))
        bases.append(ref)
    if _is_generic(cls) and not generic_base:
        bases.append(_subscript(_ref("typing", "Generic"), _ref(*DOCUMENT_TYPEVAR)))
    return bases


def _subscript(value: ast.expr, argument: ast.expr) -> ast.expr:
    return ast.Subscript(value=value, slice=argument, ctx=ast.Load())


def _document_type_of(cls: type) -> ast.expr:
    """What a subclass passes its generic base: the type variable, or its own document type."""
    if _is_generic(cls):
        return _ref(*DOCUMENT_TYPEVAR)
    return _ref(*DOCUMENT_TYPE_OF.get(cls.__name__, ("typing", "Any")))


def _self_type(cls: type) -> ast.expr:
    """``cls`` as its own methods return it: ``AgnosticCursor[_DocumentType]``."""
    ref = _ref(cls.__module__, cls.__qualname__)
    return _subscript(ref, _ref(*DOCUMENT_TYPEVAR)) if _is_generic(cls) else ref


def _stubbed_classes(stubber: _Stubber) -> dict[str, list[type]]:
    """Classes stubbed in each declaration module: ``__all__`` and what annotations name."""
    modules = {name: importlib.import_module(name) for name in _declaration_modules()}
    chosen: dict[str, list[type]] = {name: [] for name in modules}
    pending: list[type] = []
    for name, module in modules.items():
        for exported in module.__all__:
            value = getattr(module, exported)
            if isinstance(value, type) and value.__module__ == name:
                pending.append(value)
    while pending:
        cls = pending.pop(0)
        if cls in chosen[cls.__module__]:
            continue
        chosen[cls.__module__].append(cls)
        nodes: list[ast.expr | None] = [*_bases(cls)]
        for member in stubber.members(cls).values():
            nodes.append(member.returns)
            nodes.extend(param.annotation for param in member.params)
        for node in nodes:
            for ref in _refs(node):
                module_name, qualname = ref.split(":", 1)
                if module_name in chosen and "." not in qualname:
                    referenced = getattr(modules[module_name], qualname)
                    # (A re-export, like BackgroundCall in core, is imported instead.)
                    if referenced.__module__ == module_name and referenced not in chosen[module_name]:
                        pending.append(referenced)
    # Source order, as a reader of the module would meet them.
    for name, classes in chosen.items():
        order = list(vars(modules[name]))
        classes.sort(key=lambda cls: order.index(cls.__name__))
    return chosen


def _declaration_modules() -> list[str]:
    return [name for name in DECLARATION_MODULES if importlib.util.find_spec(name) is not None]


def _declaration_stub(module_name: str, classes: list[type], stubber: _Stubber) -> str:
    module = importlib.import_module(module_name)
    imports = _Imports(module_name, [cls.__name__ for cls in classes])
    for exported in module.__all__:
        value = getattr(module, exported)
        if isinstance(value, type) and value.__module__ == module_name:
            continue
        source = getattr(value, "__module__", None)
        if not source or source == module_name or getattr(value, "__name__", None) != exported:
            raise RuntimeError(f"{module_name}.{exported}: only classes defined there, or imported names, can be stubbed")
        imports.reexport(source, exported)
    body = []
    if f"{module_name}:" == f"{DOCUMENT_TYPEVAR[0]}:":
        # typing_extensions: a TypeVar default (PEP 696) for every Python.
        imports.local("typing_extensions:TypeVar", set())
        imports.local("typing:Any", set())
        imports.local("collections.abc:Mapping", set())
        body.append(DOCUMENT_TYPEVAR_DEFINITION)
    for cls in classes:
        body.append("\n".join(_render_class(cls.__name__, _bases(cls), stubber.members(cls).values(), imports)))
    return _finish(imports, body, list(module.__all__))


def _narrow(node: ast.expr, mapping: dict[str, str]) -> ast.expr | None:
    """``node`` with the references in ``mapping`` replaced where a subclass
    may be returned instead (the type itself, a union member, a tuple item);
    None if nothing could be narrowed. Inside other generics (``Future[X]``,
    ``list[X]``, invariant) nothing is replaced: the override would not type-check."""
    ref = _ref_id(node)
    if ref is not None:
        return _ref(*mapping[ref].split(":", 1)) if ref in mapping else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _narrow(node.left, mapping), _narrow(node.right, mapping)
        if left is None and right is None:
            return None
        return ast.BinOp(left=left or node.left, op=ast.BitOr(), right=right or node.right)
    if isinstance(node, ast.Subscript) and _ref_id(node.value) in mapping:
        # A generic declaration (AgnosticCursor[_DocumentType]): the framework's
        # class, with the same argument if it is generic too.
        target = mapping[_ref_id(node.value)]  # type: ignore[index]
        narrowed = _ref(*target.split(":", 1))
        if not _is_generic_ref(target):
            return narrowed
        return ast.Subscript(value=narrowed, slice=node.slice, ctx=ast.Load())
    if isinstance(node, ast.Subscript) and _ref_id(node.value) == "builtins:tuple":
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        narrowed = [_narrow(item, mapping) for item in items]
        if all(item is None for item in narrowed):
            return None
        new_items = [new or old for new, old in zip(narrowed, items)]
        slice_ = ast.Tuple(elts=new_items, ctx=ast.Load()) if isinstance(node.slice, ast.Tuple) else new_items[0]
        return ast.Subscript(value=node.value, slice=slice_, ctx=ast.Load())
    return None


def _framework_stub(module_name: str, stubbed: set[type], stubber: _Stubber) -> str:
    module = importlib.import_module(module_name)
    generated = [(name, getattr(module, name)) for name in module.__all__]
    framework_ref: dict[str, str] = {}
    for name, cls in generated:
        declaration = cls.__bases__[0]
        framework_ref[f"{declaration.__module__}:{declaration.__qualname__}"] = f"{module_name}:{name}"
    imports = _Imports(module_name, [name for name, _ in generated])
    body = []
    for name, cls in generated:
        declaration = cls.__bases__[0]
        if declaration not in stubbed:
            raise RuntimeError(f"{module_name}.{name}: its declaration {declaration.__qualname__} is not stubbed")
        mapping = dict(framework_ref)
        for klass in declaration.__mro__:
            mapping[f"{klass.__module__}:{klass.__qualname__}"] = f"{module_name}:{name}"

        members = []
        for member in stubber.all_members(declaration, stubbed).values():
            if member.returns is None:
                continue
            narrowed = _narrow(member.returns, mapping)
            if narrowed is not None:
                members.append(member.with_returns(narrowed))
        bases: list[ast.expr] = [_ref(declaration.__module__, declaration.__qualname__)]
        if _is_generic(declaration):
            bases = [_subscript(bases[0], _ref(*DOCUMENT_TYPEVAR))]
        body.append("\n".join(_render_class(name, bases, members, imports)))
    return _finish(imports, body, list(module.__all__))


def generate() -> dict[Path, str]:
    """Every stub's path and fresh contents."""
    stubber = _Stubber()
    classes = _stubbed_classes(stubber)
    stubbed = {cls for module_classes in classes.values() for cls in module_classes}
    result: dict[Path, str] = {}
    for module_name, module_classes in classes.items():
        result[_stub_path(module_name)] = _declaration_stub(module_name, module_classes, stubber)
    for module_name in FRAMEWORK_MODULES:
        result[_stub_path(module_name)] = _framework_stub(module_name, stubbed, stubber)
    for path, text in list(result.items()):
        result[ALIAS_STUBS_DIR / path.name] = _alias_stub(path.stem, text)
    result[ALIAS_STUBS_DIR / "__init__.pyi"] = _alias_package_stub()
    result.update(_extension_protocol_stubs())
    return result


#: A stub-only ``motor-stubs`` distribution (``pip install ./stubs``) so that
#: type checkers see ``motor.*`` as motorlike when the motor alias is used:
#: they cannot see ``install_motor_alias()`` run.
ALIAS_STUBS_DIR = PACKAGE_DIR.parent / "stubs" / "motor-stubs"


def _alias_stub(module_stem: str, motorlike_stub: str) -> str:
    """``motor/<module>.pyi``: re-export every top-level name of ``motorlike/<module>.pyi``."""
    tree = ast.parse(motorlike_stub)
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("motorlike"):
            names.extend(alias.asname or alias.name for alias in node.names if alias.asname == alias.name)
    lines = [
        f'"""motor.{module_stem} for type checkers: motorlike.{module_stem} (generated by tools/stubgen.py)."""',
        "",
    ]
    lines += [f"from motorlike.{module_stem} import {name} as {name}" for name in sorted(set(names))]
    return "\n".join(lines) + "\n"


#: Modules of Motor's extension protocol (doc/extending.md) that libraries
#: built on Motor import; motorlike's are typed sources, so their alias
#: stubs re-export them.
EXTENSION_MODULES = ("metaprogramming", "frameworks.asyncio", "frameworks.tornado")


def _module_names(module_name: str) -> list[str]:
    """The public names ``module_name`` defines: its ``__all__``, else what it defines itself."""
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return sorted(exported)
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and getattr(value, "__module__", module_name) == module_name
    )


def _extension_protocol_stubs() -> dict[Path, str]:
    """``motor/metaprogramming.pyi`` and ``motor/frameworks/*.pyi``: motorlike's, re-exported."""
    stubs = {ALIAS_STUBS_DIR / "frameworks" / "__init__.pyi": '"""motor.frameworks for type checkers (generated by tools/stubgen.py)."""\n'}
    for stem in EXTENSION_MODULES:
        target = f"motorlike.{stem}"
        lines = [f'"""motor.{stem} for type checkers: {target} (generated by tools/stubgen.py)."""', ""]
        lines += [f"from {target} import {name} as {name}" for name in _module_names(target)]
        stubs[ALIAS_STUBS_DIR / (stem.replace(".", "/") + ".pyi")] = "\n".join(lines) + "\n"
    return stubs


def _alias_package_stub() -> str:
    return (
        '"""motor for type checkers: motorlike (generated by tools/stubgen.py)."""\n\n'
        "from motorlike import version as version, version_tuple as version_tuple\n"
    )


def _stub_path(module_name: str) -> Path:
    return PACKAGE_DIR / (module_name.rsplit(".", 1)[1] + ".pyi")


def stale_stubs() -> list[Path]:
    """Stubs whose committed contents differ from a fresh generation."""
    return [path for path, text in generate().items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stubgen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a stub is stale")
    args = parser.parse_args(argv)
    stubs = generate()
    stale = [path for path, text in stubs.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"stale: {path.name} (regenerate with 'python -m tools.stubgen')", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stubs[path])
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
