"""bench/reliability.py: its row titles and cells, and one cheap scenario of each table run for real.

The real run starts the script (its own subprocesses and, for the GridFS row, the embedded
test server or ``MOTORLIKE_TEST_URI``) and is marked ``slow``: deselect it with ``-m "not slow"``.
"""

import json
import os
import subprocess
import sys

import pytest

from bench import harness, reliability

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.no_server


def test_round_one_titles_are_the_rows_of_doc_reliability():
    with open(os.path.join(ROOT, "doc", "reliability.md")) as doc:
        titles = {line.split(" | ")[0].removeprefix("| ") for line in doc if line.startswith("| ")}
    assert set(reliability.ROUND_ONE.values()) <= titles


def test_cells_show_loop_errors_in_round_two_only_and_keep_the_table_whole():
    loop_errors = {"Future exception was never retrieved: builtins.TypeError": 2}
    assert reliability.summary("starvation", {"outcome": "20/20", "loop_errors": loop_errors}) == "20/20"
    assert reliability.summary("stop_iteration", {"outcome": "hangs | x", "loop_errors": loop_errors}) == (
        "hangs / x; loop: 2 x Future exception was never retrieved: builtins.TypeError")
    assert reliability.summary("fork_child", {"ok": False, "error": "timed out after 120s"}) == (
        "error: timed out after 120s")


@pytest.mark.slow
def test_one_scenario_of_each_table_with_motorlike(tmp_path):
    report = tmp_path / "reliability.json"
    command = [sys.executable, os.path.join(ROOT, "bench", "reliability.py"), "--drivers", "motorlike",
               "--scenarios", "cursor_across_runs", "stop_iteration", "--json", str(report)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=harness.child_env())
    assert run.returncode == 0, run.stderr[-2000:]
    assert ("\n| scenario | motorlike (asyncio) |\n|---|---|\n"
            "| 4. to_list across two asyncio.run() (300 docs) | 300 delivered, 0 lost, 0 dup, 0 out of order |\n"
            in run.stdout)
    assert ("\n| 4. upload_from_stream, source.read() raises StopIteration | raised builtins.RuntimeError ("
            in run.stdout)
    assert "\n2 subprocesses in " in run.stdout
    results = json.loads(report.read_text())["results"]
    assert results["cursor_across_runs"]["motorlike"]["lost"] == 0
    assert results["stop_iteration"]["motorlike"]["loop_errors"] == {}
