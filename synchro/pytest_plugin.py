"""pytest plugin loaded (``-p synchro.pytest_plugin``) into runs of PyMongo's suite.

Configured by environment variables the runner sets:

``SYNCHRO_MODE``
    ``synchro`` installs the import hook so the suite's ``pymongo`` and
    ``gridfs`` imports get synchro (framework from ``SYNCHRO_FRAMEWORK``);
    ``plain`` leaves PyMongo alone (the baseline).
``SYNCHRO_TEST_ROOT``
    the suite's ``test`` directory; its modules are redirected, except
    those under ``test/asynchronous``.
``SYNCHRO_EXCLUSIONS``
    a JSON file: a list of ``{"id": ..., "reason": ...}``; matching tests
    are deselected.
``SYNCHRO_RESULTS``
    where to write a JSON file: every collected test id, each run test's
    outcome, and the exclusion entries that matched nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from synchro.exclusions import matches

_outcomes: dict[str, str] = {}
_collected: list[str] = []
_unmatched: list[str] = []
_file_seconds: dict[str, float] = {}
_finder: Any = None


def _install_hook() -> None:
    global _finder
    if os.environ.get("SYNCHRO_MODE", "plain") != "synchro" or _finder is not None:
        return
    import synchro
    from synchro import importer

    root = os.environ["SYNCHRO_TEST_ROOT"]
    _finder = importer.install(synchro.default_api(), [root], [os.path.join(root, "asynchronous")])
    # PyMongo's synchronous cursor sends a getMore only when its buffer is
    # empty, and its tests count commands and buffered documents at each
    # step; motorlike's async-for prefetch (a getMore ahead of the reader)
    # would show there. Suite runs keep PyMongo's timing.
    from motorlike._cursor import AgnosticBaseCursor

    AgnosticBaseCursor._prefetches = False


# Installed when pytest imports this plugin: before any conftest or test
# module of the suite is imported.
_install_hook()


def pytest_report_header(config: pytest.Config) -> str:
    mode = os.environ.get("SYNCHRO_MODE", "plain")
    if mode == "synchro":
        import synchro

        return f"synchro: pymongo/gridfs imports redirected to motorlike ({synchro.selected_framework()})"
    return "synchro: plain PyMongo (baseline)"


def _load_exclusions() -> list[dict]:
    path = os.environ.get("SYNCHRO_EXCLUSIONS")
    if not path:
        return []
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _collected.extend(item.nodeid for item in items)
    entries = _load_exclusions()
    if not entries:
        return
    used: set[str] = set()
    kept, dropped = [], []
    for item in items:
        hit = next((entry["id"] for entry in entries if matches(entry["id"], item.nodeid)), None)
        if hit is None:
            kept.append(item)
        else:
            used.add(hit)
            dropped.append(item)
    _unmatched.extend(entry["id"] for entry in entries if entry["id"] not in used)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    test_file = report.nodeid.split("::", 1)[0]
    _file_seconds[test_file] = _file_seconds.get(test_file, 0.0) + report.duration
    previous = _outcomes.get(report.nodeid)
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    elif report.when == "call":
        outcome = "passed"
    else:
        return
    # The worst outcome of setup, call and teardown wins.
    if previous in ("failed", "error"):
        return
    if previous == "skipped" and outcome == "passed":
        return
    _outcomes[report.nodeid] = outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("SYNCHRO_RESULTS")
    if not path:
        return
    data = {
        "mode": os.environ.get("SYNCHRO_MODE", "plain"),
        "framework": os.environ.get("SYNCHRO_FRAMEWORK") if os.environ.get("SYNCHRO_MODE") == "synchro" else None,
        "exitstatus": int(exitstatus),
        "collected": _collected,
        "outcomes": _outcomes,
        "unmatched_exclusions": _unmatched,
        # Setup, call and teardown of every test, per file: what choosing a
        # CI selection needs.
        "file_seconds": {name: round(seconds, 2) for name, seconds in _file_seconds.items()},
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
