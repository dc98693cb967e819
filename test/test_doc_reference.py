"""The built API reference reads as written for users: no reStructuredText
shown as text (PyMongo's ``:: code-block: python``), no private type name
(``_DocumentType``, ``_Sort`` ...) in a signature.

The pages are built once per test run (``built_html`` in conftest.py).
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest

from motorlike._docstrings import repair_rst

pytestmark = pytest.mark.no_server

DOC = Path(__file__).resolve().parent.parent / "doc"
sys.path.insert(0, str(DOC))  # doc/motorlike_sphinx.py, as conf.py finds it

#: A directive shown as text, PyMongo's slip or anyone's.
_LITERAL_DIRECTIVE = re.compile(r"(?<!\.\. )::\s*code-block|\.\. code-block::")
#: An underscore-prefixed type name: ``_DocumentType``, ``bson.typings._DocumentType``.
_PRIVATE_TYPE = re.compile(r"(?<![A-Za-z0-9])_[A-Z]\w*")


def page_text(path: Path) -> str:
    """What a reader sees: the page without its markup."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def reference_problems(text: str) -> list[str]:
    """Literal directives and private type names in a page's text, with context."""
    problems = []
    for pattern, what in ((_LITERAL_DIRECTIVE, "directive shown as text"), (_PRIVATE_TYPE, "private type name")):
        for match in pattern.finditer(text):
            context = " ".join(text[max(0, match.start() - 60) : match.end() + 20].split())
            problems.append(f"{what} {match.group(0)!r}: ...{context}...")
    return problems


def test_the_check_finds_both_kinds_of_problem() -> None:
    bad = "kwargs - the same as find().\n:: code-block: python\n>>> x\nfind_one(sort: _Sort | None) → _DocumentType"
    found = reference_problems(bad)
    assert len(found) == 3, found
    assert reference_problems("find_one(filter: Any, _id: int) → Mapping[str, Any] | None\n__init__") == []


@pytest.mark.parametrize("page", ["asyncio", "tornado", "trio", "web", "aiohttp", "alias", "testserver"])
def test_the_reference_shows_no_markup_and_no_private_type_names(built_html: Path, page: str) -> None:
    problems = reference_problems(page_text(built_html / "api" / f"{page}.html"))
    assert problems == [], "\n".join(problems[:20])


def test_pymongo_misspelled_directive_is_repaired() -> None:
    text = "kwargs: the same as find().\n\n    :: code-block: python\n\n      >>> collection.find_one()\n"
    assert repair_rst(text) == "kwargs: the same as find().\n\n    .. code-block:: python\n\n      >>> collection.find_one()\n"
    assert repair_rst("::\n\n  literal\n") == "::\n\n  literal\n"  # a literal block stays one


def test_private_type_names_are_spelled_out() -> None:
    import motorlike_sphinx

    spelled = motorlike_sphinx.public_type_names(
        "(sort: _Sort | None, session: _AgnosticClientSession | None, read_preference: _ServerMode | None) "
        "→ AsyncIOMotorCursor[_DocumentType]",
        "AsyncIO",
        "pymongo.synchronous.collection",
    )
    assert "_" not in re.sub(r"\w+_\w+", "", spelled), spelled  # no name starting with "_"
    assert "session: AsyncIOMotorClientSession | None" in spelled
    assert "Primary | PrimaryPreferred | Secondary | SecondaryPreferred | Nearest" in spelled
    assert spelled.endswith("AsyncIOMotorCursor[Mapping[str, Any]]")
    # One nothing knows stays, for the page check above to report.
    assert motorlike_sphinx.public_type_names("x: _NoSuchAlias", "AsyncIO") == "x: _NoSuchAlias"
