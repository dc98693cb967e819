"""bench/os_costs.py: one small round of each measurement (its counters: test_bench_harness.py)."""

from __future__ import annotations

import pytest

from bench import os_costs

pytestmark = pytest.mark.no_server


def test_one_small_round_of_each(monkeypatch, capsys):
    monkeypatch.setattr(os_costs, "FIND_ONES", 50)
    monkeypatch.setattr(os_costs, "READS", 1)
    assert os_costs.main(["both", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "PyMongo sync" in out and "motorlike asyncio" in out
    assert "motorlike's worker pool" in out and "loop.run_in_executor" in out
