"""Sphinx configuration for motorlike's documentation.

Build it with ``tox -e docs``, or directly::

    python -m sphinx -W --keep-going -b html doc doc/_build/html

The pages are Markdown (MyST) except the API reference (``doc/api/*.rst``),
which autodoc generates from the classes as ``motorlike.motor_asyncio`` and
``motorlike.motor_tornado`` export them; nothing here depends on which
module under ``motorlike/`` holds a declaration.

The build works offline: intersphinx inventories (Python, PyMongo) are
downloaded by this file when the network answers, see :func:`_inventories`.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

DOC = Path(__file__).resolve().parent
ROOT = DOC.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOC))

import motorlike  # noqa: E402

project = "motorlike"
author = "motorlike contributors"
copyright = "motorlike contributors"  # noqa: A001
release = motorlike.version
version = ".".join(release.split(".")[:2])

root_doc = "contents"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "motorlike_sphinx",  # doc/motorlike_sphinx.py: coroutine marks, return types, docstrings
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence"]
# Anchors for "## Headings", so that links like [x](page.md#a-heading) resolve.
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"motorlike {release}"
html_static_path: list[str] = []

autodoc_member_order = "groupwise"
autodoc_typehints = "signature"
autodoc_default_options = {
    "members": True,
    "inherited-members": True,
    "undoc-members": True,
}
# Docstrings come from PyMongo and from motorlike: neither is written for
# Sphinx's nit-picky mode, so unresolved names are not warnings.
nitpicky = False
# doc/synchro.md shows a report's shape with "..." in a json block, which
# Pygments cannot lex strictly; Sphinx then highlights it leniently.
suppress_warnings = ["misc.highlighting_failure"]

# --------------------------------------------------------------------------
# intersphinx, offline-safe
# --------------------------------------------------------------------------

#: Where the inventories live. MOTORLIKE_DOCS_OFFLINE=1 skips the download
#: even when the network answers (the build then uses cached copies, if any).
INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "pymongo": "https://pymongo.readthedocs.io/en/stable/",
}
INVENTORY_CACHE = DOC / "_build" / "intersphinx"


def _local_inventory(name: str, url: str, timeout: float = 5.0) -> Path | None:
    """A local copy of URL's ``objects.inv``: fresh if it downloads, else cached, else None."""
    cached = INVENTORY_CACHE / f"{name}.inv"
    if os.environ.get("MOTORLIKE_DOCS_OFFLINE") != "1":
        try:
            with urllib.request.urlopen(url + "objects.inv", timeout=timeout) as response:
                data = response.read()
            if data.startswith(b"# Sphinx inventory version"):
                INVENTORY_CACHE.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(data)
        except (OSError, ValueError):
            pass  # offline, or the site is down: fall back to the cache
    return cached if cached.is_file() else None


def _inventories() -> dict[str, tuple[str, str]]:
    """intersphinx_mapping with local files only, so Sphinx never fetches.

    Sphinx reports an inventory it cannot fetch with a warning that has no
    type to suppress ("failed to reach any of the inventories ..."), and
    ``-W`` turns that into a failed build. So conf.py downloads them itself
    and hands Sphinx only files that exist: offline, references to Python
    and PyMongo stay plain text instead of links, and nothing fails.
    """
    mapping = {}
    for name, url in INVENTORIES.items():
        local = _local_inventory(name, url)
        if local is not None:
            mapping[name] = (url, str(local))
    return mapping


intersphinx_mapping = _inventories()
print(
    "motorlike docs: intersphinx to "
    + (", ".join(sorted(intersphinx_mapping)) or "nothing (offline, no cached inventories; references stay plain text)"),
    file=sys.stderr,
)
