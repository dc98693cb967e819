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


@pytest.mark.requires("transactions")
def test_beanie_application_runs_unchanged(server_uri: str) -> None:
    if importlib.util.find_spec("beanie") is None:
        pytest.skip("beanie is not installed (it is in the 'test' extra)")
    completed = subprocess.run(
        [sys.executable, str(APPS / "beanie_app.py"), server_uri],
        capture_output=True,
        text=True,
        timeout=120,
        # motorlike importable whether installed or run from the checkout.
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    assert completed.returncode == 0, completed.stderr
    expected = []
    for run in (1, 2):
        expected += [
            f"{run} cheap ['p0', 'p1', 'p2']",
            f"{run} saved 6.0 6",
            f"{run} total 16.0",
            f"{run} transaction 1",
        ]
    assert completed.stdout.splitlines() == expected
