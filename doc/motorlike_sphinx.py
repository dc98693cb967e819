"""What autodoc needs to show motorlike's generated classes as they behave.

motorlike's public classes are generated at import time (see
``doc/architecture.md``): each coroutine method is a plain function that
returns a running future, marked with ``_is_coroutine_annotation``, and
most methods carry PyMongo's signature and docstring. Left alone, autodoc
would show them as synchronous PyMongo methods. This extension, for the
documentation only:

- marks every method motorlike calls a coroutine with ``async`` (Python
  3.12+ already says so through ``inspect.markcoroutinefunction``; 3.10 and
  3.11 have no such mark, hence the check of motorlike's own attribute);
- shows motorlike's classes as return types where PyMongo's signature names
  the PyMongo class that motorlike wraps (``start_session`` returns an
  ``AsyncIOMotorClientSession``, not a ``ClientSession``);
- replaces a docstring copied verbatim from PyMongo (its examples are
  synchronous) with a short note: what the motorlike method does, and
  a link to PyMongo's method for the parameters. A docstring written for
  motorlike is kept as it is;
- spells out the private type names of signatures (``_DocumentType``,
  ``_Sort``, ``_WriteOp`` ...) as what they stand for, so that the
  reference names nothing a reader cannot import or look up.

Once the generator writes those docstrings and signatures itself, the last
two steps find nothing to change. Nothing here depends on which file under
``motorlike/`` holds a declaration: classes are looked up by the names
``motorlike.motor_asyncio`` and ``motorlike.motor_tornado`` export.
"""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import inspect as sphinx_inspect

#: Public names PyMongo's signatures use for what motorlike wraps, and the
#: motorlike class name (without the framework prefix) for each.
WRAPPED_NAMES = {
    "MongoClient": "MotorClient",
    "ClientSession": "MotorClientSession",
    "Database": "MotorDatabase",
    "Collection": "MotorCollection",
    "Cursor": "MotorCursor",
    "RawBatchCursor": "MotorRawBatchCursor",
    "CommandCursor": "MotorCommandCursor",
    "RawBatchCommandCursor": "MotorRawBatchCommandCursor",
    "ChangeStream": "MotorChangeStream",
    "CollectionChangeStream": "MotorChangeStream",
    "DatabaseChangeStream": "MotorChangeStream",
    "ClusterChangeStream": "MotorChangeStream",
    "ClientEncryption": "MotorClientEncryption",
    "GridFSBucket": "MotorGridFSBucket",
    "GridIn": "MotorGridIn",
    "GridOut": "MotorGridOut",
    "GridOutCursor": "MotorGridOutCursor",
}
#: A dotted or plain class name, optionally generic: ``client_session.ClientSession``,
#: ``Database[_DocumentType]``, ``AgnosticCursor[_DocumentType]``.
_CLASS_NAME = re.compile(r"\b(?:[A-Za-z_][\w]*\.)*(Agnostic(?P<agnostic>\w+)|(?P<pymongo>[A-Z]\w*))(?:\[[^\[\]]*\])?")


# --------------------------------------------------------------------------
# coroutines
# --------------------------------------------------------------------------


def is_motorlike_coroutine(obj: Any) -> bool:
    """A method motorlike generated to return an awaitable (a running future)."""
    return bool(getattr(obj, "_is_coroutine_annotation", False))


def _mark_coroutines() -> None:
    """Let autodoc's coroutine check see motorlike's mark (Python < 3.12)."""
    original = sphinx_inspect.iscoroutinefunction
    if getattr(original, "_motorlike", False):
        return

    def iscoroutinefunction(obj: Any) -> bool:
        return is_motorlike_coroutine(obj) or original(obj)

    iscoroutinefunction._motorlike = True  # type: ignore[attr-defined]
    sphinx_inspect.iscoroutinefunction = iscoroutinefunction  # type: ignore[assignment]


# --------------------------------------------------------------------------
# finding the class and PyMongo's member
# --------------------------------------------------------------------------


def owner_class(name: str) -> tuple[type | None, str]:
    """The class holding the member called NAME (dotted), and the member's own name."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for part in parts[split:-1]:
                target = getattr(target, part)
        except AttributeError:
            return None, parts[-1]
        return (target if isinstance(target, type) else None), parts[-1]
    return None, parts[-1]


def framework_prefix(cls: type) -> str | None:
    """``AsyncIO`` or ``""`` for a generated class; None for any other class."""
    framework = getattr(cls, "_framework", None)
    prefix = getattr(framework, "CLASS_PREFIX", None)
    return prefix if isinstance(prefix, str) else None


def pymongo_member(cls: type, attr_name: str) -> tuple[Any, str | None]:
    """PyMongo's member behind ATTR_NAME of a generated class, and its documented dotted name."""
    delegate = getattr(cls, "__delegate_class__", None)
    if delegate is None:
        return None, None
    member = inspect.getattr_static(delegate, attr_name, None)
    if member is None:
        return None, None
    return member, f"{documented_path(delegate)}.{attr_name}"


def documented_path(delegate: type) -> str:
    """Where PyMongo's documentation has DELEGATE: its public module, not ``synchronous``."""
    module = delegate.__module__
    if delegate.__name__ == "GridFSBucket":
        return "gridfs.GridFSBucket"
    module = module.replace("pymongo.synchronous.", "pymongo.").replace("gridfs.synchronous.", "gridfs.")
    return f"{module}.{delegate.__qualname__}"


def _docstring(member: Any) -> str | None:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return getattr(member, "__doc__", None)


# --------------------------------------------------------------------------
# private type names
# --------------------------------------------------------------------------

#: Private names that are motorlike's own, or PyMongo's for what motorlike
#: wraps, as the reference spells them (``{prefix}``: the framework's).
PRIVATE_SPELLINGS = {
    # PyMongo's name for either of its session classes.
    "_AgnosticClientSession": "{prefix}MotorClientSession",
    # session.bind(): entered with ``with`` or ``async with``.
    "_BoundSession": "AbstractContextManager[{prefix}MotorClientSession]",
    # ``async with session.start_transaction():``
    "_MotorTransactionContext": "AbstractAsyncContextManager[None]",
}
#: Where PyMongo defines the private aliases its signatures use, after the
#: wrapped class's own module (``_WriteOp`` differs between the client's and
#: a collection's ``bulk_write``).
PYMONGO_TYPE_MODULES = (
    "bson.typings",
    "pymongo.typings",
    "pymongo.cursor_shared",
    "pymongo.operations",
    "pymongo.read_preferences",
    "pymongo.database_shared",
)
#: A private name, possibly dotted: ``_Sort``, ``bson.typings._DocumentType``.
_PRIVATE_NAME = re.compile(r"(?<![\w.])(?:[a-z_]\w*\.)*(?P<name>_[A-Z]\w*)")
#: A module path before a name: ``collections.abc.``, ``pymongo.operations.``.
_MODULE_PATH = re.compile(r"(?<![\w.])(?:[a-z_]\w*\.)+(?=[A-Za-z_])")


def _definition(name: str, module_names: tuple[str, ...]) -> Any:
    for module_name in module_names:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if name in vars(module):
            return vars(module)[name]
    return None


def private_name_spelled_out(name: str, prefix: str, delegate_module: str | None) -> str | None:
    """What the private NAME stands for, in public names; None if unknown."""
    if name in PRIVATE_SPELLINGS:
        return PRIVATE_SPELLINGS[name].format(prefix=prefix)
    modules = ((delegate_module,) if delegate_module else ()) + PYMONGO_TYPE_MODULES
    value = _definition(name, modules)
    if value is None:
        return None
    if isinstance(value, typing.TypeVar):
        value = value.__bound__ if value.__bound__ is not None else Any
    elif isinstance(value, type):
        # A private base class (_ServerMode): the public classes built on it.
        public = [klass.__name__ for klass in value.__subclasses__() if not klass.__name__.startswith("_")]
        return " | ".join(public) if public else None
    from sphinx.util.typing import stringify_annotation

    return _MODULE_PATH.sub("", stringify_annotation(value, "fully-qualified-except-typing"))


def public_type_names(text: str, prefix: str, delegate_module: str | None = None) -> str:
    """TEXT (a signature) with every private type name it uses spelled out.

    An alias may use another (``_IndexKeyHint`` is ``str | _IndexList``):
    replaced until none is left. A name nothing here knows stays, and the
    reference check in test/test_doc_examples.py fails on it.
    """
    for _ in range(5):

        def replace(match: re.Match[str]) -> str:
            spelled = private_name_spelled_out(match.group("name"), prefix, delegate_module)
            return match.group(0) if spelled is None else spelled

        replaced = _PRIVATE_NAME.sub(replace, text)
        if replaced == text:
            break
        text = replaced
    return text


# --------------------------------------------------------------------------
# autodoc events
# --------------------------------------------------------------------------


def motorlike_return_annotation(annotation: str, prefix: str, *, pymongo_names: bool = True) -> str:
    """ANNOTATION with motorlike's Agnostic (and PyMongo's) class names as the framework's classes."""

    def replace(match: re.Match[str]) -> str:
        agnostic, plain = match.group("agnostic"), match.group("pymongo")
        if agnostic is not None:
            return prefix + "Motor" + agnostic
        motor_name = WRAPPED_NAMES.get(plain) if pymongo_names else None
        return prefix + motor_name if motor_name is not None else match.group(0)

    return _CLASS_NAME.sub(replace, annotation)


def declared_return(obj: Any) -> str | None:
    """The return annotation of OBJ's ``__signature__`` as text, or None.

    autodoc takes a function's return type from ``typing.get_type_hints``,
    which reads the generated wrapper's own ``-> Any`` rather than the
    ``__signature__`` the generator gave it; the signature is what
    ``inspect.signature`` and ``help()`` show, so it wins here too.
    """
    signature = getattr(obj, "__signature__", None)
    if not isinstance(signature, inspect.Signature):
        return None
    annotation = signature.return_annotation
    if annotation is inspect.Signature.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    from sphinx.util.typing import stringify_annotation

    return stringify_annotation(annotation, "smart")


def process_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None, return_annotation: str | None
) -> tuple[str | None, str | None] | None:
    if what == "class":
        prefix = framework_prefix(obj) if isinstance(obj, type) else None
        if prefix is None or not signature:
            return None
        # A constructor takes PyMongo objects where it says so: only the
        # declarations' names become the framework's.
        delegate = getattr(obj, "__delegate_class__", None)
        signature = motorlike_return_annotation(signature, prefix, pymongo_names=False)
        return public_type_names(signature, prefix, getattr(delegate, "__module__", None)), return_annotation
    if what not in ("method", "property"):
        return None
    cls, _ = owner_class(name)
    prefix = framework_prefix(cls) if cls is not None else None
    if prefix is None:
        return None
    declared = declared_return(obj)
    if declared is not None:
        return_annotation = declared
    delegate_module = getattr(getattr(cls, "__delegate_class__", None), "__module__", None)
    if signature:
        signature = public_type_names(motorlike_return_annotation(signature, prefix), prefix, delegate_module)
    if return_annotation:
        return_annotation = public_type_names(
            motorlike_return_annotation(return_annotation, prefix), prefix, delegate_module
        )
    return signature, return_annotation


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what not in ("method", "property", "attribute"):
        return
    cls, attr_name = owner_class(name)
    prefix = framework_prefix(cls) if cls is not None else None
    if cls is None or prefix is None:
        return
    member, pymongo_path = pymongo_member(cls, attr_name)
    if member is not None and pymongo_path is not None:
        own = inspect.getdoc(obj) if not isinstance(obj, property) else inspect.cleandoc(obj.__doc__ or "")
        theirs = _docstring(member)
        if not (own and theirs and own.strip() != inspect.cleandoc(theirs).strip()):
            lines[:] = pymongo_note(obj, attr_name, pymongo_path)  # else written for motorlike: kept
    # "... and returns ``AsyncIOMotorCursor[_DocumentType]``": spelled out as in signatures.
    delegate_module = getattr(getattr(cls, "__delegate_class__", None), "__module__", None)
    lines[:] = [public_type_names(line, prefix, delegate_module) for line in lines]


def spell_out_signature_types(app: Sphinx, doctree: nodes.document) -> None:
    """Private type names left in the rendered signatures of generated classes.

    A property's type (``property address: _Address | None``) is written by
    autodoc after the signature event, from the getter's annotation; this
    pass spells such names out in the signature's nodes, as
    :func:`process_signature` does in the text of methods' signatures.
    """
    for signature in doctree.findall(addnodes.desc_signature):
        module, fullname = signature.get("module"), signature.get("fullname")
        if not module or not fullname:
            continue
        cls, _ = owner_class(f"{module}.{fullname}")
        prefix = framework_prefix(cls) if cls is not None else None
        if cls is None or prefix is None:
            continue
        delegate_module = getattr(getattr(cls, "__delegate_class__", None), "__module__", None)
        for text in list(signature.findall(nodes.Text)):
            if not _PRIVATE_NAME.search(text):
                continue
            spelled = public_type_names(str(text), prefix, delegate_module)
            if spelled == str(text):
                continue
            holder = text.parent
            if isinstance(holder, addnodes.pending_xref):
                # A link to the private name would lead nowhere: plain text instead.
                holder.replace_self(nodes.Text(spelled))
            else:
                holder.replace(text, nodes.Text(spelled))


def pymongo_note(obj: Any, attr_name: str, pymongo_path: str) -> list[str]:
    """The text shown instead of a docstring copied from PyMongo."""
    if isinstance(obj, property) or not callable(obj):
        return [f"PyMongo's :attr:`{pymongo_path}`, read from the wrapped PyMongo object."]
    if is_motorlike_coroutine(obj):
        return [
            f"Runs PyMongo's :meth:`{pymongo_path}` on a worker thread; ``await`` the call for its result.",
            "",
            "The parameters, the result and the exceptions are PyMongo's (follow the link); "
            "a motorlike object passed as an argument (a session, a database) is unwrapped first.",
        ]
    return [
        f"Calls PyMongo's :meth:`{pymongo_path}` directly (no I/O, no ``await``); "
        "a PyMongo object it returns comes back as the motorlike class of this framework.",
    ]


def skip_member(app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """Leave out the generator's machinery, which every generated class inherits."""
    if name in {"delegate", "wrap", "unwrap_arguments"} or name.startswith("_"):
        return True
    return None


# --------------------------------------------------------------------------
# the contents page: new pages join their section
# --------------------------------------------------------------------------

def expand_page_patterns(app: Sphinx, docname: str, source: list[str]) -> None:
    """In the root page, replace a line ``tutorial-*`` by the pages so named not listed yet.

    Sphinx's own ``:glob:`` warns when a pattern matches nothing (and that
    warning has no type to suppress), which ``-W`` makes an error: the
    pattern would fail the build exactly when every page is listed.
    """
    if docname != app.config.root_doc:
        return
    text = source[0]
    listed = set(re.findall(r"^([\w/-]+)$", text, flags=re.MULTILINE))

    def expand(match: re.Match[str]) -> str:
        prefix = match.group("prefix")
        extra = sorted(name for name in app.env.found_docs if name.startswith(prefix) and name not in listed)
        return "\n".join(extra)

    source[0] = re.sub(r"^(?P<prefix>[\w/-]+)\*$", expand, text, flags=re.MULTILINE)


def setup(app: Sphinx) -> dict[str, Any]:
    _mark_coroutines()
    app.connect("source-read", expand_page_patterns)
    app.connect("autodoc-process-signature", process_signature)
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("autodoc-skip-member", skip_member)
    app.connect("doctree-read", spell_out_signature_types)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
