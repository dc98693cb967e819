"""Worker placement (motorlike/_affinity.py, rules P1-P4): a loop's thread
and its workers on one CPU, and nothing motorlike did not create left with a
changed CPU mask."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from motorlike import _affinity, _bridge

ORIGINAL = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
needs_placement = pytest.mark.skipif(
    not _affinity.placement_supported(),
    reason="needs Linux's sched_setaffinity, glibc's sched_getcpu and two usable CPUs",
)


# -- the setting ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "1", "yes", "on"])
def test_on_by_default_where_supported(monkeypatch, raw) -> None:
    monkeypatch.setenv("MOTORLIKE_WORKER_AFFINITY", raw)
    assert _bridge.worker_affinity_from_environment() is _affinity.placement_supported()


@pytest.mark.parametrize("raw", ["0", "off", "no", "false"])
def test_turned_off(monkeypatch, raw) -> None:
    monkeypatch.setenv("MOTORLIKE_WORKER_AFFINITY", raw)
    assert _bridge.worker_affinity_from_environment() is False
    pool = _bridge.WorkerPool(1)
    assert pool.placement is None
    pool.shutdown()


def test_bad_setting_raises(monkeypatch) -> None:
    monkeypatch.setenv("MOTORLIKE_WORKER_AFFINITY", "sometimes")
    with pytest.raises(ValueError, match="MOTORLIKE_WORKER_AFFINITY"):
        _bridge.WorkerPool(1)


# -- P2 as a pure function ---------------------------------------------------------------


def _stat(**shares: float) -> tuple[dict, dict]:
    """before/after cpu_times over 100 ticks per CPU; cpu0=0.9 means 90 busy."""
    before = {int(name[3:]): (0, 0) for name in shares}
    after = {int(name[3:]): (round(share * 100), 100) for name, share in shares.items()}
    return before, after


CPUS = frozenset({0, 1})


def test_a_saturated_cpu_shared_with_another_process_is_left_for_an_idle_one() -> None:
    before, after = _stat(cpu0=1.0, cpu1=0.1)
    assert _affinity.choose_cpu(0, CPUS, before, after, own_share=0.5, coin=True) == 1
    # The coin: two processes that see the same picture do not both move.
    assert _affinity.choose_cpu(0, CPUS, before, after, own_share=0.5, coin=False) == 0


@pytest.mark.parametrize(
    "cpu0, cpu1, own",
    [
        (0.6, 0.0, 0.1),  # not saturated
        (1.0, 0.0, 0.9),  # saturated by this process alone: the GIL's turn-taking, no one to leave
        (1.0, 0.8, 0.5),  # the other CPU is busy too
    ],
)
def test_stays(cpu0, cpu1, own) -> None:
    before, after = _stat(cpu0=cpu0, cpu1=cpu1)
    assert _affinity.choose_cpu(0, CPUS, before, after, own_share=own, coin=True) == 0


def test_goes_to_the_idlest_allowed_cpu() -> None:
    before, after = _stat(cpu0=1.0, cpu1=0.5, cpu2=0.2, cpu3=0.0)
    allowed = frozenset({0, 1, 2})  # cpu3 is idle, but not allowed (a cpuset)
    assert _affinity.choose_cpu(0, allowed, before, after, own_share=0.3, coin=True) == 2


def test_no_data_no_move() -> None:
    assert _affinity.choose_cpu(0, CPUS, {}, {}, own_share=0.0, coin=True) == 0
    before, after = _stat(cpu0=1.0, cpu1=0.0)
    assert _affinity.choose_cpu(0, CPUS, before, before, own_share=0.0, coin=True) == 0  # no time passed


def test_cpu_times_reads_every_cpu() -> None:
    if not os.path.exists("/proc/stat"):
        pytest.skip("needs /proc/stat")
    times = _affinity.cpu_times()
    assert set(times) >= ORIGINAL
    assert all(0 <= busy <= total for busy, total in times.values())


# -- P1, P3, P4 on a pool ------------------------------------------------------------


class _Waiter:
    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False


class _Loop:
    """Stands in for an event loop: outcomes are delivered on the worker."""

    def call_soon_threadsafe(self, callback: Any, *args: Any) -> None:
        callback(*args)


class _Calls:
    """Submit calls to a pool from a caller thread; results in order."""

    def __init__(self, pool: _bridge.WorkerPool) -> None:
        self.pool = pool
        self.results: list = []
        self.done = threading.Semaphore(0)

    def _deliver(self, _waiter: Any, result: Any, error: BaseException | None) -> None:
        self.results.append(error or result)
        self.done.release()

    def call(self, fn: Any, *args: Any) -> Any:
        self.pool.submit(_Loop(), _Waiter(), fn, args, {}, self._deliver)
        assert self.done.acquire(timeout=30)
        return self.results[-1]


def _in_thread(fn: Any) -> Any:
    box: list = []
    thread = threading.Thread(target=lambda: box.append(fn()))
    thread.start()
    thread.join()
    return box[0]


@needs_placement
def test_a_caller_is_pinned_where_it_is_and_its_calls_run_there() -> None:
    pool = _bridge.WorkerPool(2)
    calls = _Calls(pool)
    try:
        def caller() -> tuple:
            on_worker = calls.call(os.sched_getaffinity, 0)
            return frozenset(os.sched_getaffinity(0)), on_worker

        mine, on_worker = _in_thread(caller)
        assert len(mine) == 1 and on_worker == mine
    finally:
        pool.shutdown()


@needs_placement
def test_calls_without_a_loop_pin_nothing() -> None:
    pool = _bridge.WorkerPool(1)
    seen: list = []
    done = threading.Semaphore(0)
    try:
        def caller() -> frozenset:
            pool.submit(None, _Waiter(), os.sched_getaffinity, (0,), {},
                        lambda _w, result, _e: (seen.append(result), done.release()))
            return frozenset(os.sched_getaffinity(0))

        assert _in_thread(caller) == ORIGINAL
        assert done.acquire(timeout=30)
        assert seen == [set(ORIGINAL)]
    finally:
        pool.shutdown()


@needs_placement
@pytest.mark.parametrize("started_on", ["caller", "worker"])
def test_a_thread_started_by_a_pinned_thread_gets_the_original_mask(started_on) -> None:
    """P3: PyMongo's monitors are started on a worker, asyncio.to_thread's
    threads on the loop's thread; neither may keep a one-CPU mask."""
    pool = _bridge.WorkerPool(2)
    calls = _Calls(pool)
    release = threading.Event()
    started: list[threading.Thread] = []

    def start_thread() -> int:
        thread = threading.Thread(target=release.wait)
        thread.start()
        started.append(thread)
        return thread.native_id

    try:
        def caller() -> frozenset:
            calls.call(int)  # pinned now
            if started_on == "caller":
                start_thread()
            else:
                calls.call(start_thread)
            calls.call(int)  # the next call looks at new threads
            return frozenset(os.sched_getaffinity(started[0].native_id))

        assert _in_thread(caller) == ORIGINAL
    finally:
        release.set()
        for thread in started:
            thread.join()
        pool.shutdown()


_CHILD_MASK = "import os; print(sorted(os.sched_getaffinity(0)))"


@needs_placement
def test_a_process_started_by_a_pinned_thread_gets_the_original_mask() -> None:
    pool = _bridge.WorkerPool(2)
    calls = _Calls(pool)
    try:
        def caller() -> tuple:
            calls.call(int)
            pinned = frozenset(os.sched_getaffinity(0))
            from_caller = subprocess.run([sys.executable, "-c", _CHILD_MASK], capture_output=True, text=True).stdout
            from_worker = calls.call(
                lambda: subprocess.run([sys.executable, "-c", _CHILD_MASK], capture_output=True, text=True).stdout
            )
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: report and leave at once
                os.write(write, repr(sorted(os.sched_getaffinity(0))).encode())
                os._exit(0)
            os.close(write)
            from_fork = os.read(read, 1000).decode()
            os.close(read)
            os.waitpid(pid, 0)
            calls.call(int)  # pinned again at its next call
            return pinned, from_caller, from_worker, from_fork, frozenset(os.sched_getaffinity(0))

        pinned, from_caller, from_worker, from_fork, again = _in_thread(caller)
        assert len(pinned) == 1
        expected = repr(sorted(ORIGINAL))
        assert (from_caller.strip(), from_worker.strip(), from_fork) == (expected, expected, expected)
        assert again == pinned
    finally:
        pool.shutdown()


@needs_placement
def test_closing_the_last_client_unpins_its_callers() -> None:
    """P4, for a caller thread still alive and another one's close."""
    pool = _bridge.WorkerPool(2)
    calls = _Calls(pool)
    first, second = pool.new_lane(None), pool.new_lane(None)
    pinned = threading.Event()
    release = threading.Event()
    try:
        def loop_thread() -> None:
            calls.call(int)
            pinned.set()
            release.wait()

        thread = threading.Thread(target=loop_thread)
        thread.start()
        assert pinned.wait(30)
        assert len(os.sched_getaffinity(thread.native_id)) == 1
        pool.lane_closed(first)
        assert len(os.sched_getaffinity(thread.native_id)) == 1  # a client is still open
        pool.lane_closed(second)
        assert frozenset(os.sched_getaffinity(thread.native_id)) == ORIGINAL
        release.set()
        thread.join()
    finally:
        release.set()
        pool.shutdown()


# -- a user's program -------------------------------------------------------------------

_PROGRAM = textwrap.dedent(
    """
    import asyncio, concurrent.futures, json, os, subprocess, sys, threading
    from motorlike import _bridge
    from motorlike.motor_asyncio import AsyncIOMotorClient

    def mask(tid=0):
        return sorted(os.sched_getaffinity(tid))

    def child_mask():
        return subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                              capture_output=True, text=True).stdout.strip()

    async def main():
        client = AsyncIOMotorClient(sys.argv[1], serverSelectionTimeoutMS=20000)
        await client.admin.command("ping")
        for _ in range(200):
            await client.motorlike_test.placement.find_one()
        report = {"loop_while_used": mask()}
        report["to_thread"] = await asyncio.to_thread(mask)
        with concurrent.futures.ProcessPoolExecutor(1) as processes:
            report["process_pool"] = await asyncio.get_running_loop().run_in_executor(processes, mask)
        report["subprocess"] = child_mask()
        await client.motorlike_test.placement.find_one()
        client.close()
        return report

    report = asyncio.run(main())
    ours = _bridge.get_pool().placement._ours - {threading.main_thread().native_id}
    others = [int(tid) for tid in os.listdir("/proc/self/task") if int(tid) not in ours]
    report["loop_after_close"] = mask()
    report["other_threads"] = sorted({str(mask(tid)) for tid in others})
    print(json.dumps(report))
    """
)


@needs_placement
def test_a_program_keeps_its_threads_and_processes_masks(server_uri, tmp_path) -> None:
    """The loop runs on one CPU while it makes calls; everything it did not
    ask motorlike for (its own threads, a process pool, a subprocess,
    PyMongo's monitors) keeps the process's CPUs, and so does the loop's
    thread once its client is closed."""
    script = tmp_path / "program.py"
    script.write_text(_PROGRAM)
    env = dict(os.environ)
    env.pop("MOTORLIKE_WORKER_AFFINITY", None)
    out = subprocess.run(
        [sys.executable, str(script), server_uri], capture_output=True, text=True, env=env, timeout=300, check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.returncode == 0, out.stderr
    import json

    report = json.loads(out.stdout.strip().splitlines()[-1])
    everything = sorted(ORIGINAL)
    assert len(report["loop_while_used"]) == 1
    assert report["to_thread"] == everything
    assert report["process_pool"] == everything
    assert report["subprocess"] == repr(everything)
    assert report["loop_after_close"] == everything
    assert report["other_threads"] == [str(everything)]
