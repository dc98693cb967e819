"""More libraries written for Motor, run unchanged on motorlike through the motor alias.

Like test_libraries.py: each application in test/libraries/ runs in its own
process (so the alias is installed before anything imports ``motor``) against
the test server, and prints one line per check.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

APPS = Path(__file__).parent / "libraries"
ROOT = APPS.parent.parent


def _run_app(app: str, module: str, server_uri: str) -> list[str]:
    """Run test/libraries/<app>_app.py against the test server; its output lines."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (it is in the 'test' extra)")
    completed = subprocess.run(
        [sys.executable, str(APPS / f"{app}_app.py"), server_uri],
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


def test_limits_mongodb_storage_runs_unchanged(server_uri: str) -> None:
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
    assert _run_app("limits", "limits", server_uri) == expected
