"""bench/harness.py: the helpers every benchmark shares."""

from __future__ import annotations

import mmap
import sys
import threading
import time
import types

import pytest

from bench import harness

pytestmark = pytest.mark.no_server


def _own_voluntary_switches() -> int:
    with open("/proc/thread-self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))


def test_context_switches_count_every_thread():
    slept, release = threading.Event(), threading.Event()
    worker_own = []

    def sleeper():
        for _ in range(50):
            time.sleep(0.001)  # each sleep blocks: a voluntary switch
        worker_own.append(_own_voluntary_switches())
        slept.set()
        release.wait()  # stay alive (and counted) until the main thread has read

    worker = threading.Thread(target=sleeper)
    worker.start()
    try:
        assert slept.wait(10)
        main_own = _own_voluntary_switches()
        total = harness.context_switches()[0]
    finally:
        release.set()
        worker.join()
    # The worker's own sleeps are in the sum, not only this thread's waits.  (No
    # difference of two sums: a thread of an earlier test that ends in between
    # would take its switches out of the second.)
    assert worker_own[0] >= 50
    assert total >= worker_own[0] + main_own


def test_measured_counts_page_faults():
    with harness.Measured() as measured:
        # A fresh anonymous mapping: its pages fault in when first touched
        # (a bytearray could reuse memory this process already has).
        with mmap.mmap(-1, 8 << 20) as blob:
            for i in range(0, len(blob), 4096):
                blob[i] = 1
    assert measured.faults >= 1000  # 2,048 fresh pages touched
    assert measured.wall > 0 and measured.cpu > 0


def test_loopback_uris(capsys):
    for uri in ("mongodb://127.0.0.1:27017/", "mongodb://localhost", "mongodb://[::1]:1/", "mongodb://127.1.2.3,localhost/"):
        assert harness.is_loopback_uri(uri), uri
        assert not harness.refuse_remote(uri)
    for uri in ("mongodb://10.0.0.1/", "mongodb://127.0.0.1,example.com/", "mongodb+srv://localhost/"):
        assert not harness.is_loopback_uri(uri), uri
    assert harness.refuse_remote("mongodb://10.0.0.1/")
    assert "refusing 'mongodb://10.0.0.1/'" in capsys.readouterr().out


_WORKER = """
import sys
from bench import harness
if sys.argv[1] == "ok":
    print("noise")
    harness.report({"ok": True, "argv": sys.argv[1:]})
    print("more noise")
elif sys.argv[1] == "die":
    sys.exit("it went wrong")
else:
    import time
    time.sleep(60)
"""


def test_run_worker(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    assert harness.run_worker(str(script), ["ok", "x"], 60) == {"ok": True, "argv": ["ok", "x"]}
    died = harness.run_worker(str(script), ["die"], 60)
    assert died == {"ok": False, "error": "worker exited 1: it went wrong"}
    started = time.monotonic()
    assert harness.run_worker(str(script), ["hang"], 1) == {"ok": False, "error": "timed out after 1s"}
    assert time.monotonic() - started < 30


def test_failed_reports_the_error_and_the_traceback():
    try:
        raise ValueError("x" * 500)
    except ValueError as exc:
        report = harness.failed(exc, limit=10)
    assert report["ok"] is False
    assert report["error"] == "ValueError: " + "x" * 10
    assert "raise ValueError" in report["traceback"]


def test_motor_is_never_motorlike_s_alias(monkeypatch):
    alias = types.ModuleType("motorlike")
    alias.__file__ = "/somewhere/motorlike/__init__.py"
    alias.version = "3.8.0"
    monkeypatch.setitem(sys.modules, "motor", alias)
    with pytest.raises(ImportError, match="not Motor 3.7"):
        harness.import_driver("motor")


def test_import_driver():
    client, bucket, version = harness.import_driver("pymongo")
    assert client.__name__ == "MongoClient" and bucket is not None and version
    client, _bucket, version = harness.import_driver("motorlike")
    assert client.__module__.startswith("motorlike") and version == harness.module_version("motorlike")
    assert harness.module_version("no_such_module_here") == "missing"
    with pytest.raises(ValueError):
        harness.import_driver("nope")


def test_rotations_give_each_contender_every_place_in_turn():
    orders = [order for _index, order in harness.rotations(3, ["a", "b", "c"])]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    # Everyone is first once: a drift of the machine is spread over all of them.
    assert sorted(order[0] for order in orders) == ["a", "b", "c"]


def test_interleaved_measures_in_turn_and_keeps_results_per_contender():
    made = []

    def measure(contender):
        made.append(contender)
        return len(made)

    results = harness.interleaved(2, ["x", "y"], measure)
    assert made == ["x", "y", "y", "x"]
    assert results == {"x": [1, 4], "y": [2, 3]}


def test_figures_median_best_and_spread():
    rates = harness.figures([10.0, 30.0, 20.0, None])
    assert rates == {"median": 20.0, "best": 30.0, "spread": 1.0}
    assert harness.figures([]) is None and harness.figures([None]) is None


def test_markdown_table_aligns_numbers_right():
    lines = harness.markdown_table(["workload", "unit", "a", "b"], [["find_one", "ops/s", "1,000", "2.00"]], numeric_from=2)
    assert lines == ["| workload | unit | a | b |", "|---|---|---:|---:|", "| find_one | ops/s | 1,000 | 2.00 |"]
    assert [harness.fmt_rate(x) for x in (None, 12345.6, 45.67, 1.234)] == ["-", "12,346", "45.7", "1.23"]


def test_cpu_shares_from_two_snapshots():
    before = {"cpu0": (100, 1000), "cpu1": (0, 1000)}
    after = {"cpu0": (600, 2000), "cpu1": (1000, 2000)}
    assert harness.cpu_shares(before, after) == {"cpu0": 0.5, "cpu1": 1.0}
    start = harness.cpu_times()
    assert harness.foreign_cpus(start, start) is None  # no time passed: nothing to say


def test_a_worker_that_answered_then_hung_keeps_its_answer_and_its_group_dies(tmp_path):
    """A worker and a grandchild it started both hang holding the output pipe; the worker had
    answered first. collect() kills the whole group, so it returns, and keeps the answer."""
    answered = tmp_path / "answered"
    script = tmp_path / "worker.py"
    script.write_text(
        "import subprocess, sys, time, pathlib\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])  # inherits the pipes\n"
        f"print({harness.RESULT!r} + '{{\"ok\": true, \"n\": 7}}', flush=True)\n"
        f"pathlib.Path({str(answered)!r}).touch()\n"
        "time.sleep(600)\n"
    )
    proc = harness.start_worker(str(script), [])
    deadline = time.monotonic() + 120  # a generous bound on a wait for an event, not a measured time
    while not answered.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the worker never answered"
        time.sleep(0.01)
    assert harness.collect(proc, timeout=0.2) == {"ok": True, "n": 7}
    assert proc.returncode is not None
