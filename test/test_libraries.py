"""Libraries written for Motor, run unchanged on motorlike through the motor alias."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

APPS = Path(__file__).parent / "libraries"
ROOT = APPS.parent.parent


def _run_app(library: str, server_uri: str, capabilities: dict) -> list[str]:
    """Run test/libraries/<library>_app.py against the test server; its output lines."""
    if importlib.util.find_spec(library) is None:
        pytest.skip(f"{library} is not installed (it is in the 'test' extra)")
    arguments = [server_uri] + (["transactions"] if capabilities.get("transactions") else [])
    completed = subprocess.run(
        [sys.executable, str(APPS / f"{library}_app.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        # motorlike importable whether installed or run from the checkout.
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    assert completed.returncode == 0, completed.stderr
    # Errors in __del__ (limits closes its client there) only reach stderr.
    assert "Exception ignored" not in completed.stderr, completed.stderr
    return completed.stdout.splitlines()


@pytest.mark.requires("transactions")
def test_beanie_application_runs_unchanged(server_uri: str, capabilities: dict) -> None:
    expected = []
    for run in (1, 2):
        expected += [
            f"{run} cheap ['p0', 'p1', 'p2']",
            f"{run} saved 6.0 6",
            f"{run} total 16.0",
            f"{run} transaction 1",
        ]
    assert _run_app("beanie", server_uri, capabilities) == expected



def test_odmantic_application_runs_unchanged(server_uri: str, capabilities: dict) -> None:
    expected = []
    for run in (1, 2):
        expected += [
            f"{run} indexes ['_id_', 'pages_title', 'title_1'] ['name_1']",
            f"{run} counts 1 5",
            f"{run} short ['b3', 'b2', 'b1'] Lyon",
            f"{run} found 400 acme Publisher",
            f"{run} paged ['b2', 'b3']",
            f"{run} updated 4.5 ['new']",
            f"{run} duplicate pymongo.errors.DuplicateKeyError Paris",
            f"{run} deleted 1 3 2",
        ]
        if capabilities.get("transactions"):
            expected.append(f"{run} transaction 1 0")
        expected.append(f"{run} session {4 if capabilities.get('transactions') else 3} motorlike.motor_asyncio")
    assert _run_app("odmantic", server_uri, capabilities) == expected


def test_umongo_application_runs_unchanged(server_uri: str, capabilities: dict) -> None:
    expected = []
    for run in (1, 2):
        expected += [
            f"{run} indexes ['_id_', 'views_1_title_-1'] ['_id_', 'name_1']",
            f"{run} counts 1 5",
            f"{run} find ['p3', 'p2', 'p1', 'p0'] Post",
            f"{run} iterate ['p1', 'p3']",
            f"{run} reference 30 ada London True",
            f"{run} updated 99 ['odd', 'hot'] 1",
            f"{run} unique ['name'] DuplicateKeyError",
            f"{run} deleted 4 False",
        ]
        if capabilities.get("transactions"):
            expected.append(f"{run} transaction 1 0")
    assert _run_app("umongo", server_uri, capabilities) == expected


def test_aiomongodel_application_runs_unchanged(server_uri: str, capabilities: dict) -> None:
    expected = []
    for run in (1, 2):
        expected += [
            f"{run} indexes ['_id_', 'number_1', 'status_1_number_-1']",
            f"{run} counts 1 5",
            f"{run} find [3, 2, 1] Order bob",
            f"{run} iterate [4, 5]",
            f"{run} reference Bob [('s0', 4), ('s1', 4)]",
            f"{run} updated paid 3 2 [('new', 2), ('paid', 1), ('shipped', 2)]",
            f"{run} duplicate number_1",
            f"{run} deleted 2 2 motorlike.motor_asyncio",
        ]
        if capabilities.get("transactions"):
            expected.append(f"{run} transaction 1")
    assert _run_app("aiomongodel", server_uri, capabilities) == expected


def test_limits_mongodb_storage_runs_unchanged(server_uri: str, capabilities: dict) -> None:
    """limits' async MongoDB storage is built on Motor (the rate limiter behind Flask-Limiter, slowapi)."""
    expected = []
    for run in (1, 2):
        expected += [
            f"{run} check True",
            f"{run} fixed [True, True, True, False] False",
            f"{run} cost True False",
            f"{run} stats 0 0 True True",
        ]
        if run == 1:
            expected.append(f"{run} indexes ['_id_', 'expireAt_1'] ['_id_', 'expireAt_1']")
        expected += [
            f"{run} cleared True 3",
            f"{run} moving [True, True, False] False",
            f"{run} moving stats 0 True",
            f"{run} sliding [True, True, False] 0",
            f"{run} sliding cleared True",
            f"{run} stored ['LIMITER/api/bob/3/1/minute'] 1",
            # The client limits built is motorlike's, not a real Motor's.
            f"{run} reset 2 motorlike.motor_asyncio",
        ]
    assert _run_app("limits", server_uri, capabilities) == expected
