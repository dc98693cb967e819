"""bench/os_costs.py: its counters, and one small round of each measurement."""

from __future__ import annotations

import mmap
import threading
import time

import pytest

from bench import os_costs

pytestmark = pytest.mark.no_server


def test_context_switches_count_every_thread():
    slept, release = threading.Event(), threading.Event()

    def sleeper():
        for _ in range(50):
            time.sleep(0.001)  # each sleep blocks: a voluntary switch
        slept.set()
        release.wait()  # stay alive (and counted) until the main thread has read

    before = os_costs.context_switches()
    worker = threading.Thread(target=sleeper)
    worker.start()
    try:
        assert slept.wait(10)
        after = os_costs.context_switches()
    finally:
        release.set()
        worker.join()
    # The worker's own 50 sleeps are in the sum, not only this thread's waits.
    assert after[0] - before[0] >= 50


def test_measured_counts_page_faults():
    with os_costs.Measured() as measured:
        # A fresh anonymous mapping: its pages fault in when first touched
        # (a bytearray could reuse memory this process already has).
        with mmap.mmap(-1, 8 << 20) as blob:
            for i in range(0, len(blob), 4096):
                blob[i] = 1
    assert measured.faults >= 1000  # 2,048 fresh pages touched
    assert measured.wall > 0 and measured.cpu > 0


def test_one_small_round_of_each(monkeypatch, capsys):
    monkeypatch.setattr(os_costs, "FIND_ONES", 50)
    monkeypatch.setattr(os_costs, "READS", 1)
    assert os_costs.main(["both", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "PyMongo sync" in out and "motorlike asyncio" in out
    assert "motorlike's worker pool" in out and "loop.run_in_executor" in out
