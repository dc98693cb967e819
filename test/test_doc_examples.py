"""Every Python example in the documentation and the README, run on the test server.

Which blocks are examples: every ```` ```python ```` fence in ``README.md``
and ``doc/*.md`` (and every ``.. code-block:: python`` in ``doc/**/*.rst``).
Each is a complete program: it runs on its own in a fresh interpreter, with
the literal ``"mongodb://localhost:27017"`` (either quote) replaced by the
test server's URI, and fails the test if it exits non-zero.

A comment right before a block says otherwise (invisible on GitHub and in
the built pages)::

    <!-- example: requires transactions -->   skipped unless the server can
    <!-- example: continue -->                runs after the page's previous block, as one program
    <!-- example: fragment REASON -->         not run: an excerpt (say why)

and ``<!-- example: output -->`` before a ```` ```text ```` block makes it
the expected output of the program just before it (``...`` matches
anything, whitespace differences do not count). In reStructuredText the
comment is ``.. example: requires transactions`` and so on.

Two pages show excerpts without markers: ``doc/gridfs.md``'s blocks run
in order as one program (:data:`EXCERPT_PAGES`), and ``doc/architecture.md``'s
one block is reported as skipped (:data:`UNMARKED_FRAGMENTS`).

The second half checks the documentation built with Sphinx, warnings as
errors (``-W --keep-going``), offline (the ``built_html`` fixture of
``test/conftest.py``, shared with ``test/test_doc_reference.py``), and what
the API reference shows.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "doc"
PLACEHOLDER_URI = "mongodb://localhost:27017"
EXAMPLE_TIMEOUT = 120

#: Pages whose blocks are excerpts, with no markers of their own.
UNMARKED_FRAGMENTS = {
    "doc/architecture.md": "an excerpt of a declaration class in motorlike/, not a program",
}

#: Pages whose blocks are excerpts of one program, with no markers of their
#: own: they run in order as one program, with top-level ``await``, after a
#: prelude defining the names the text uses, and with a client made without
#: a URI pointed at the test server.
EXCERPT_PAGES = {
    "doc/gridfs.md": """
import io

import aiohttp.web
import tornado.web
from bson import ObjectId


async def pieces():
    for number in range(3):
        yield bytes([number]) * 300_000


sink = io.BytesIO()
""",
}


@dataclasses.dataclass
class Example:
    page: str  # relative to ROOT
    line: int
    source: str
    requires: tuple[str, ...] = ()
    fragment: str | None = None
    continues: bool = False
    expected_output: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


_MD_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n`]*)$")
_MD_MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<options>.*?)\s*-->\s*$")
_RST_BLOCK = re.compile(r"^\.\. code-block::\s*(?P<lang>\w+)\s*$")
_RST_MARKER = re.compile(r"^\.\. example:\s*(?P<options>.*?)\s*$")


def _apply_options(example: Example, options: str) -> None:
    word, _, rest = options.partition(" ")
    if word == "requires":
        example.requires = tuple(rest.split())
        assert example.requires, f"{example.id}: 'requires' names no capability"
    elif word == "fragment":
        assert rest.strip(), f"{example.id}: a fragment needs a reason"
        example.fragment = rest.strip()
    elif word == "continue":
        example.continues = True
    else:
        raise AssertionError(f"{example.id}: unknown example marker {options!r}")


def markdown_examples(path: Path, root: Path = ROOT) -> list[Example]:
    page = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    pending: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = _MD_MARKER.match(line)
        if marker:
            pending = marker.group("options")
            index += 1
            continue
        fence = _MD_FENCE.match(line)
        if not fence:
            if line.strip():
                pending = None
            index += 1
            continue
        closing = fence.group("fence")
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].startswith(closing):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        info = fence.group("info").strip()
        language = info.strip("{}").split()[0] if info else ""
        source = "\n".join(body) + "\n"
        start = index - len(body) - 1
        if pending == "output":
            assert examples, f"{page}:{start}: expected output before any example"
            examples[-1].expected_output = source
        elif language in ("python", "py", "python3"):
            example = Example(page, start, source)
            if pending is not None:
                _apply_options(example, pending)
            examples.append(example)
        pending = None
    return examples


def rst_examples(path: Path) -> list[Example]:
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    pending: str | None = None
    for number, line in enumerate(lines):
        marker = _RST_MARKER.match(line)
        if marker:
            pending = marker.group("options")
            continue
        block = _RST_BLOCK.match(line)
        if block and block.group("lang") in ("python", "py", "python3"):
            body: list[str] = []
            for following in lines[number + 1 :]:
                if following.strip() and not following.startswith((" ", "\t")):
                    break
                body.append(following)
            while body and not body[0].strip() or body and body[0].lstrip().startswith(":"):
                body.pop(0)
            example = Example(page, number + 1, _dedent("\n".join(body)) + "\n")
            if pending is not None:
                _apply_options(example, pending)
            examples.append(example)
        if line.strip() and not marker:
            pending = None
    return examples


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def all_examples() -> list[Example]:
    examples: list[Example] = []
    pages = [ROOT / "README.md", *sorted(DOC.glob("*.md"))]
    for path in pages:
        found = markdown_examples(path)
        page = path.relative_to(ROOT).as_posix()
        if page in UNMARKED_FRAGMENTS:
            for example in found:
                example.fragment = example.fragment or UNMARKED_FRAGMENTS[page]
        examples.extend(found)
    for path in sorted(DOC.rglob("*.rst")):
        if "_build" not in path.parts:
            examples.extend(rst_examples(path))
    return examples


def programs(examples: list[Example]) -> list[list[Example]]:
    """Examples grouped into programs: a block and the ``continue`` blocks after it
    (every block of an :data:`EXCERPT_PAGES` page is one program)."""
    grouped: list[list[Example]] = []
    for example in examples:
        if example.page in EXCERPT_PAGES and grouped and grouped[-1][0].page == example.page:
            grouped[-1].append(example)
        elif example.continues:
            assert grouped and grouped[-1][0].page == example.page, f"{example.id}: 'continue' with nothing before it"
            grouped[-1].append(example)
        else:
            grouped.append([example])
    return grouped


EXAMPLES = all_examples()
PROGRAMS = programs(EXAMPLES)


def with_test_server(source: str, uri: str) -> str:
    """SOURCE connecting to the test server instead of the placeholder URI."""
    for quote in ('"', "'"):
        source = source.replace(f"{quote}{PLACEHOLDER_URI}{quote}", repr(uri))
    return source


def excerpt_program(page: str, source: str, uri: str) -> str:
    """SOURCE (excerpts of PAGE, top-level await) as a script, after the page's prelude."""
    source = re.sub(r"(Motor\w*Client)\(\)", lambda match: f"{match.group(1)}({uri!r})", source)
    return textwrap.dedent(
        f"""
        import ast
        import asyncio

        namespace = {{"__name__": "__main__"}}
        exec(compile({EXCERPT_PAGES[page]!r}, "prelude", "exec"), namespace)


        async def main():
            code = compile({source!r}, {page!r}, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)
            if result is not None:
                await result


        asyncio.run(main())
        """
    )


def run_program(blocks: list[Example], uri: str, workdir: Path) -> subprocess.CompletedProcess:
    source = "\n".join(with_test_server(block.source, uri) for block in blocks)
    if blocks[0].page in EXCERPT_PAGES:
        source = excerpt_program(blocks[0].page, source, uri)
    script = workdir / "example.py"
    script.write_text(source, encoding="utf-8")
    env = dict(os.environ, MOTORLIKE_TEST_URI=uri, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
    )


def output_matches(expected: str, got: str) -> bool:
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    return checker.check_output(expected, got, flags)


# --------------------------------------------------------------------------
# The examples
# --------------------------------------------------------------------------


@pytest.mark.no_server
def test_the_docs_have_examples():
    pages = {example.page for example in EXAMPLES}
    assert "README.md" in pages and len(PROGRAMS) >= 20, sorted(pages)


@pytest.mark.no_server
@pytest.mark.parametrize("blocks", PROGRAMS, ids=[program[0].id for program in PROGRAMS])
def test_example_connects_through_the_placeholder(blocks):
    """A runnable example reaches the server only through the URI the test replaces."""
    if any(block.fragment for block in blocks):
        pytest.skip("fragment")
    if blocks[0].page in EXCERPT_PAGES:
        pytest.skip("excerpts: a client without a URI is pointed at the test server")
    source = "".join(block.source for block in blocks)
    assert "27017" not in source.replace(PLACEHOLDER_URI, ""), (
        f"{blocks[0].id}: connect with the literal {PLACEHOLDER_URI!r}, which the test points at the test server"
    )
    assert not re.search(r"Motor\w*Client\(\s*\)", source), f"{blocks[0].id}: a client without a URI reaches no test server"


@pytest.mark.parametrize("blocks", PROGRAMS, ids=[program[0].id for program in PROGRAMS])
def test_example_runs(blocks, server_uri, capabilities, tmp_path):
    for block in blocks:
        if block.fragment:
            pytest.skip(f"not a program: {block.fragment}")
    for block in blocks:
        for capability in block.requires:
            if not capabilities.get(capability):
                pytest.skip(f"the test server lacks the capability {capability!r}")
    result = run_program(blocks, server_uri, tmp_path)
    assert result.returncode == 0, (
        f"{blocks[0].id} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    # What a reader running the example would see besides its output.
    warned = [line for line in result.stderr.splitlines() if re.search(r"\w+Warning: ", line)]
    assert not warned, f"{blocks[0].id} printed warnings:\n" + "\n".join(warned)
    expected = blocks[-1].expected_output
    if expected is not None:
        assert output_matches(expected, result.stdout), (
            f"{blocks[-1].id}: output differs\n--- expected\n{expected}\n--- got\n{result.stdout}"
        )


# --------------------------------------------------------------------------
# The harness itself: a broken example fails, markers mean what they say
# --------------------------------------------------------------------------


@pytest.mark.no_server
def test_markers_are_read(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n"
        '```python\nprint("one")\n```\n\n'
        "<!-- example: continue -->\n"
        '```python\nprint("two")\n```\n\n'
        "<!-- example: output -->\n"
        "```text\none\ntwo\n```\n\n"
        "<!-- example: requires transactions -->\n"
        "```python\npass\n```\n\n"
        "<!-- example: fragment shows one line -->\n"
        "```python\nawait x\n```\n\n"
        "```sh\necho not python\n```\n"
    )
    found = markdown_examples(page, root=tmp_path)
    assert [example.source for example in found] == ['print("one")\n', 'print("two")\n', "pass\n", "await x\n"]
    assert [len(program) for program in programs(found)] == [2, 1, 1]
    assert found[1].continues and found[1].expected_output == "one\ntwo\n"
    assert found[2].requires == ("transactions",)
    assert found[3].fragment == "shows one line"


def test_a_broken_example_fails(server_uri, tmp_path):
    broken = Example(
        "page.md",
        1,
        "import asyncio\n"
        "from motorlike.motor_asyncio import AsyncIOMotorClient\n"
        "async def main():\n"
        '    client = AsyncIOMotorClient("mongodb://localhost:27017")\n'
        "    await client.test.things.insert_one({'_id': 1})\n"
        "    await client.test.things.insert_one({'_id': 1})  # duplicate key\n"
        "asyncio.run(main())\n",
    )
    try:
        result = run_program([broken], server_uri, tmp_path)
    finally:
        import pymongo

        with pymongo.MongoClient(server_uri) as plain:
            plain.test.drop_collection("things")
    assert result.returncode != 0 and "DuplicateKeyError" in result.stderr
    assert not output_matches("one\n", "two\n") and output_matches("id ...\n", "id 42\n")


# --------------------------------------------------------------------------
# The Sphinx build
# --------------------------------------------------------------------------


@pytest.mark.no_server
def test_docs_build_with_warnings_as_errors(built_html):
    assert (built_html / "contents.html").is_file()
    for page in ["index", "gridfs", "reliability", "benchmarks", "memory", "changelog", "legacy"]:
        assert (built_html / f"{page}.html").is_file(), page


def _text(html_path: Path) -> str:
    import html

    text = re.sub(r"<[^>]+>", "", html_path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", html.unescape(text))


@pytest.mark.no_server
@pytest.mark.parametrize("framework, prefix", [("asyncio", "AsyncIO"), ("tornado", ""), ("trio", "Trio")])
def test_reference_shows_coroutines_and_motorlike_types(built_html, framework, prefix):
    text = _text(built_html / "api" / f"{framework}.html")
    # every public class of the framework
    module = __import__(f"motorlike.motor_{framework}", fromlist=["__all__"])
    for name in module.__all__:
        assert f"class motorlike.motor_{framework}.{name}(" in text, name
    # a coroutine is marked, with motorlike's return type
    assert re.search(r"async insert_one\(document: [^)]*\) → InsertOneResult", text)
    assert re.search(rf"async start_session\([^)]*\) → {prefix}MotorClientSession", text)
    assert re.search(rf"session: {prefix}MotorClientSession \| None", text)
    # a synchronous method is not, and returns motorlike's cursor
    assert re.search(rf"(?<!async )find\(filter: [^)]*\) → {prefix}MotorCursor", text)
    # described as motorlike's coroutine, not with PyMongo's synchronous examples
    entry = text[text.index("async insert_one(") :][:1500]
    assert "worker thread" in entry and "await" in entry, entry
    assert ">>> result = db.test.insert_one" not in text


@pytest.mark.no_server
def test_web_handlers_and_alias_are_documented(built_html):
    assert "class motorlike.web.GridFSHandler(" in _text(built_html / "api" / "web.html")
    assert "class motorlike.aiohttp.AIOHTTPGridFS(" in _text(built_html / "api" / "aiohttp.html")
    assert "motorlike.alias.install_motor_alias()" in _text(built_html / "api" / "alias.html")


@pytest.mark.no_server
def test_intersphinx_inventories_never_fail_the_build(monkeypatch, tmp_path):
    """conf.py hands Sphinx local inventory files only: fresh, else cached, else none at all."""
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("sphinx is not installed (pip install -e '.[docs]')")
    monkeypatch.setenv("MOTORLIKE_DOCS_OFFLINE", "1")
    spec = importlib.util.spec_from_file_location("motorlike_doc_conf", DOC / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    monkeypatch.setattr(conf, "INVENTORY_CACHE", tmp_path)
    monkeypatch.delenv("MOTORLIKE_DOCS_OFFLINE")

    def unreachable(url, timeout):
        raise OSError("no network")

    monkeypatch.setattr(conf.urllib.request, "urlopen", unreachable)
    assert conf._inventories() == {}  # offline, nothing cached: no intersphinx, no warning

    (tmp_path / "pymongo.inv").write_bytes(b"# Sphinx inventory version 2\n")
    assert conf._inventories() == {"pymongo": (conf.INVENTORIES["pymongo"], str(tmp_path / "pymongo.inv"))}

    class Response:
        def __init__(self, data):
            self.data = data

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            return False

        def read(self):
            return self.data

    fresh = b"# Sphinx inventory version 2\n# Project: Python\n"
    monkeypatch.setattr(conf.urllib.request, "urlopen", lambda url, timeout: Response(fresh))
    assert set(conf._inventories()) == {"python", "pymongo"}
    assert (tmp_path / "python.inv").read_bytes() == fresh
    # an error page instead of an inventory is not cached
    monkeypatch.setattr(conf.urllib.request, "urlopen", lambda url, timeout: Response(b"<html>"))
    (tmp_path / "python.inv").unlink()
    assert set(conf._inventories()) == {"pymongo"}
