"""Documentation of generated methods, written for motorlike's API.

A generated coroutine gets a docstring that says how to call it (``await``),
what it returns in motorlike's classes, what differs from the PyMongo
method it runs, and where PyMongo documents the parameters. PyMongo's own
text follows, its examples given the ``await`` (and ``async for``) they
need here. Signatures name motorlike's classes where PyMongo's name the
class motorlike wraps (``start_session`` returns an
``AsyncIOMotorClientSession``, not a ``ClientSession``).

``help()``, IDEs and the Sphinx reference all read what is set here.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from typing import Any, Iterable

#: PyMongo's documentation, for parameter details.
PYMONGO_DOCS = "https://pymongo.readthedocs.io/en/stable/api"

# An example line that calls a method: ">>> [target = ]expression".
_EXAMPLE = re.compile(r"^(?P<indent>\s*>>> )(?P<target>[\w.\[\]'\", ]+ = )?(?P<expression>.*)$")
_FOR_LOOP = re.compile(r"^(?P<indent>\s*>>> )for (?P<rest>.+ in .+\.(?:find|aggregate|watch|list_\w+)\(.*)$")


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def owner_name(declaration: type) -> str:
    """How examples name an instance: ``collection``, ``client_session`` ..."""
    motor_name = getattr(declaration, "__motor_class_name__", declaration.__name__)
    name = snake_case(motor_name.removeprefix("Motor").removeprefix("Agnostic"))
    return {"database": "db", "client_session": "session", "change_stream": "stream"}.get(name, name)


def pymongo_page(pymongo_class: type, method: str) -> str:
    """The URL of a PyMongo method's documentation."""
    module = pymongo_class.__module__.replace(".synchronous", "")
    package, _, page = module.partition(".")
    anchor = f"{module}.{pymongo_class.__name__}.{method}"
    return f"{PYMONGO_DOCS}/{package}/{page}.html#{anchor}"


def await_examples(text: str, coroutine_names: Iterable[str]) -> str:
    """PyMongo's examples with ``await`` before calls of coroutines and
    ``async for`` over cursors; other lines as they are."""
    names = "|".join(sorted(map(re.escape, coroutine_names)))
    if not names:
        return text
    calls_coroutine = re.compile(rf"\.(?:{names})\(")
    lines = []
    for line in text.splitlines():
        loop = _FOR_LOOP.match(line)
        if loop:
            line = f"{loop['indent']}async for {loop['rest']}"
        else:
            example = _EXAMPLE.match(line)
            if example and calls_coroutine.search(example["expression"]) and "await " not in line:
                line = f"{example['indent']}{example['target'] or ''}await {example['expression']}"
        lines.append(line)
    return "\n".join(lines)


#: A directive PyMongo misspelled (find_one's ":: code-block: python"),
#: which reStructuredText shows as literal text.
_MISSPELLED_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)::[ \t]*(?P<name>[\w-]+):[ \t]*(?P<argument>\S*)[ \t]*$", re.MULTILINE)


def repair_rst(text: str) -> str:
    """PyMongo's reStructuredText with its known slips mended: ``:: code-block: python``
    becomes the directive ``.. code-block:: python`` it was meant to be."""
    return _MISSPELLED_DIRECTIVE.sub(r"\g<indent>.. \g<name>:: \g<argument>", text)


def _summary_and_rest(doc: str | None) -> tuple[str, str]:
    if not doc:
        return "", ""
    doc = repair_rst(inspect.cleandoc(doc))
    summary, _, rest = doc.partition("\n\n")
    return " ".join(summary.split()), rest


def coroutine_doc(
    declaration: type,
    attr_name: str,
    pymongo_class: type | None,
    pymongo_name: str,
    pymongo_doc: str | None,
    returns: str | None,
    coroutine_names: Iterable[str],
) -> str:
    """The docstring of a generated coroutine method."""
    owner = owner_name(declaration)
    summary, rest = _summary_and_rest(pymongo_doc)
    parts = [summary] if summary else []
    returned = f", and returns ``{returns}``" if returns and returns not in ("None", "inspect._empty") else ""
    parts.append(
        f"A coroutine: ``await {owner}.{attr_name}(...)`` runs PyMongo's ``{pymongo_name}`` on a worker "
        f"thread{returned}; the event loop goes on meanwhile. The call starts at once, even before it is "
        "awaited. A caller that stops waiting (a cancelled task, a timeout) abandons it: it finishes on "
        "its thread and its result is dropped."
    )
    if pymongo_class is not None:
        parts.append(
            "The arguments are PyMongo's (motorlike objects, such as a session, are accepted where PyMongo "
            f"takes its own), documented at {pymongo_page(pymongo_class, pymongo_name)}"
        )
    if rest:
        parts.append("PyMongo's documentation, with its examples made asynchronous:")
        parts.append(await_examples(rest, coroutine_names))
    return "\n\n".join(textwrap.dedent(part) for part in parts)


def motorlike_annotation(annotation: Any, class_names: dict[str, str]) -> Any:
    """``annotation`` (a string, as PyMongo's are) with PyMongo class names
    replaced by motorlike's: ``client_session.ClientSession`` ->
    ``AsyncIOMotorClientSession``, ``Collection[_DocumentType]`` ->
    ``AsyncIOMotorCollection[_DocumentType]``."""
    if not isinstance(annotation, str):
        annotation = getattr(annotation, "__name__", None)
        if annotation is None:
            return inspect.Signature.empty

    def replace(match: re.Match) -> str:
        return class_names.get(match["name"], match[0])

    return re.sub(r"\b(?:[a-z_][\w]*\.)*(?P<name>[A-Z]\w*)", replace, annotation)


def with_pymongo_parameters(doc: str | None, pymongo_doc: str | None) -> str | None:
    """``doc`` followed by the parameter list of PyMongo's ``pymongo_doc``
    (from its first ``:param``), for hand-written methods that forward their
    arguments to PyMongo."""
    if not pymongo_doc:
        return doc
    pymongo_doc = repair_rst(inspect.cleandoc(pymongo_doc))
    start = pymongo_doc.find(":param ")
    if start < 0:
        return doc
    own = inspect.cleandoc(doc) if doc else ""
    return f"{own}\n\nThe parameters, as PyMongo documents them:\n\n{pymongo_doc[start:]}".strip()
