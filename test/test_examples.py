"""examples/quickstart.py, run as the README's first command runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.no_server


def test_quickstart_runs_and_prints_its_results():
    # No URI given: the example starts the embedded server itself, as on a
    # fresh machine (MOTORLIKE_TEST_URI, if the user set one, is kept).
    env = dict(os.environ, PYTHONPATH=ROOT)
    completed = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    out = completed.stdout
    assert completed.returncode == 0, out + completed.stderr
    assert "inserted 3 orders" in out
    # ada's orders come sorted by price, without _id
    keyboard, monitor = out.index("'item': 'keyboard'"), out.index("'item': 'monitor'")
    assert keyboard < monitor and "'_id'" not in out[keyboard:monitor]
    assert "{'_id': 'ada', 'spent': 250}" in out and "{'_id': 'grace', 'spent': 25}" in out
    assert "after the transaction: 2 orders for grace" in out
    assert "mouse now costs 20" in out
