"""bench/run.py's extras: ``--render-only``, and the opt-in measurements that replaced os_costs.py,
gridfs_busy.py, hop.py and prefetch.py (``--costs``, the motorlike variants, ``find_async_for_waiting``)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys

import pytest

from bench import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.no_server


def _counts(line: str):
    """A report line, with its dict of counts (if it has one) read as a dict: its order is not the report's."""
    head, sep, counts = line.partition("counts per worker: ")
    return (head, ast.literal_eval(counts)) if sep else line


def test_render_only_rewrites_doc_benchmarks_md_from_its_json(tmp_path):
    shutil.copy(os.path.join(ROOT, "doc", "benchmarks.json"), tmp_path)
    assert run.main(["--render-only", "--out", str(tmp_path)]) == 0
    with open(os.path.join(ROOT, "doc", "benchmarks.md")) as doc:
        assert list(map(_counts, (tmp_path / "benchmarks.md").read_text().splitlines())) == list(
            map(_counts, doc.read().splitlines()))


@pytest.mark.slow
def test_costs_variants_and_the_prefetch_workload(tmp_path):
    options = ["--quick", "--costs", "--reply-delay-ms", "0.2", "--drivers", "pymongo,motorlike_no_prefetch,"
               "motorlike_no_inbox", "--workloads", "find_one,gridfs_download_busy,find_async_for_waiting"]
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "run.py"), *options, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAILED" not in proc.stdout and "background find_one" in proc.stdout
    md = (tmp_path / "benchmarks.md").read_text()
    assert "### OS costs per unit" in md and "### Background find_one/s" in md
    assert "motorlike asyncio, no prefetch" in md and "`find_async_for_waiting`" in md
    assert "- made by: `python bench/run.py %s --out %s`" % (" ".join(options), tmp_path) in md  # how to run it again
    table = json.loads((tmp_path / "benchmarks.json").read_text())["canned-delay0.2ms-unpinned-quick"]["table"]
    assert table["gridfs_download_busy"]["pymongo"]["background_ops_s"] > 0
    assert table["find_one"]["motorlike_no_inbox"]["voluntary_per_unit"] > 0
    assert table["find_async_for_waiting"]["motorlike_no_prefetch"]["n"] == 1
