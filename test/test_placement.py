"""Worker placement (motorlike/_affinity.py, W1-W3): the workers of a busy
loop run on its CPU; the application's threads and processes keep theirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from motorlike import _affinity, _bridge
from test.test_strands import NeverCancelled

ORIGINAL = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_placement = pytest.mark.skipif(
    not _affinity.placement_supported(),
    reason="needs Linux's sched_setaffinity, glibc's sched_getcpu and two usable CPUs",
)


# -- the setting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, mode", [("", "off"), ("workers", "workers"), ("1", "loop"), ("loop", "loop"), ("0", "off"), ("off", "off")]
)
def test_modes(monkeypatch, raw, mode) -> None:
    monkeypatch.setenv("MOTORLIKE_WORKER_AFFINITY", raw)
    expected = mode if _affinity.placement_supported() else "off"
    assert _bridge.placement_mode_from_environment() == expected
    pool = _bridge.WorkerPool(1)
    try:
        assert (pool.placement is None) == (expected == "off")
        if pool.placement is not None:
            assert pool.placement.pin_callers == (expected == "loop")
    finally:
        pool.shutdown()


def test_bad_setting_raises(monkeypatch) -> None:
    monkeypatch.setenv("MOTORLIKE_WORKER_AFFINITY", "sometimes")
    with pytest.raises(ValueError, match="MOTORLIKE_WORKER_AFFINITY"):
        _bridge.WorkerPool(1)


# -- on a pool ----------------------------------------------------------------------------


class _Loop:
    """Stands in for an event loop: outcomes are delivered on the worker."""

    def call_soon_threadsafe(self, callback: Any, *args: Any) -> None:
        callback(*args)


class _Client:
    """A pool and one client's lane; calls made from the calling thread."""

    def __init__(self, mode: str, monkeypatch: Any, max_workers: int = 4) -> None:
        monkeypatch.setenv("MOTORLIKE_WORKER_AFFINITY", mode)
        self.pool = _bridge.WorkerPool(max_workers)
        self.lane = self.pool.new_lane(None)
        self.blocker = threading.Event()
        self.blocking = threading.Event()

    def call(self, fn: Any, *args: Any) -> Any:
        done = threading.Event()
        box: list = []

        def deliver(_waiter: Any, result: Any, error: BaseException | None) -> None:
            box.append(error or result)
            done.set()

        self.pool.submit(_Loop(), NeverCancelled(), fn, args, {}, deliver, lane=self.lane)
        assert done.wait(60)
        return box[0]

    def hold_one_call(self) -> None:
        """Keep one call of the lane running: the next calls are made while it is busy (W1)."""
        def block() -> None:
            self.blocking.set()
            self.blocker.wait()

        self.pool.submit(None, NeverCancelled(), block, (), {}, lambda *_: None, lane=self.lane)
        assert self.blocking.wait(60)

    def close(self) -> None:
        self.blocker.set()
        self.pool.shutdown()


@pytest.fixture
def client_from_cpu(monkeypatch):
    """(client, cpu): calls made from a thread the test pinned to ``cpu`` (as
    the kernel might have placed a loop), while another call of the client
    runs: W1 applies."""
    made: list[_Client] = []
    cpu = sorted(ORIGINAL)[-1] if ORIGINAL else 0

    def make(mode: str = "workers", max_workers: int = 4) -> _Client:
        client = _Client(mode, monkeypatch, max_workers)
        made.append(client)
        return client

    yield make, cpu
    for client in made:
        client.close()


def _on_thread_pinned_to(cpu: int, fn: Any) -> Any:
    box: list = []

    def run() -> None:
        os.sched_setaffinity(0, {cpu})
        box.append(fn())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return box[0]


@needs_placement
def test_a_busy_clients_calls_run_on_their_callers_cpu(client_from_cpu) -> None:
    make, cpu = client_from_cpu
    client = make(max_workers=1)
    client.hold_one_call()  # on the one worker, started from this (unpinned) thread
    done = threading.Event()
    box: list = []

    def deliver(_waiter: Any, result: Any, error: BaseException | None) -> None:
        box.append(error or result)
        done.set()

    # Made while the client is busy, from a loop the kernel put on ``cpu``:
    # it waits for the one worker, which then moves to that CPU.
    _on_thread_pinned_to(
        cpu, lambda: client.pool.submit(_Loop(), NeverCancelled(), os.sched_getaffinity, (0,), {}, deliver, lane=client.lane)
    )
    client.blocker.set()
    assert done.wait(60)
    assert box == [{cpu}]


@needs_placement
def test_a_lone_call_carries_no_cpu(client_from_cpu) -> None:
    make, _cpu = client_from_cpu
    client = make()
    placement = client.pool.placement
    assert placement.caller_cpu(busy=False) == -1
    assert placement.caller_cpu(busy=True) in ORIGINAL
    # Nothing of the client runs: its worker keeps the process's CPUs.
    box: list = []
    thread = threading.Thread(target=lambda: box.append(client.call(os.sched_getaffinity, 0)))
    thread.start()
    thread.join()
    assert box == [ORIGINAL]


@needs_placement
def test_the_callers_thread_is_never_pinned(monkeypatch) -> None:
    """W2: an event loop's thread keeps its mask, busy or not."""
    client = _Client("workers", monkeypatch)
    try:
        client.hold_one_call()

        def calls() -> frozenset:
            for _ in range(20):
                client.call(int)
            return frozenset(os.sched_getaffinity(0))

        thread_masks: list = []
        thread = threading.Thread(target=lambda: thread_masks.append(calls()))
        thread.start()
        thread.join()
        assert thread_masks == [ORIGINAL]
    finally:
        client.close()


@needs_placement
def test_loop_mode_pins_the_caller_too(client_from_cpu) -> None:
    make, _cpu = client_from_cpu
    client = make("loop")

    def caller() -> tuple:
        on_worker = client.call(os.sched_getaffinity, 0)
        return frozenset(os.sched_getaffinity(0)), on_worker

    box: list = []
    thread = threading.Thread(target=lambda: box.append(caller()))
    thread.start()
    thread.join()
    mine, on_worker = box[0]
    assert len(mine) == 1 and on_worker == mine


_CHILD_MASK = "import os; print(sorted(os.sched_getaffinity(0)))"


def _masks_of_children() -> dict:
    """Run on a pinned worker: the masks a subprocess, a forked child and a
    new thread see as their first act, and the worker's own mask."""
    report = {"worker": sorted(os.sched_getaffinity(0))}
    report["subprocess"] = subprocess.run(
        [sys.executable, "-c", _CHILD_MASK], capture_output=True, text=True, check=True
    ).stdout.strip()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once
        os.write(write, repr(sorted(os.sched_getaffinity(0))).encode())
        os._exit(0)
    os.close(write)
    report["fork"] = os.read(read, 1000).decode()
    os.close(read)
    os.waitpid(pid, 0)
    return report


@needs_placement
@pytest.mark.parametrize("mode", ["workers", "loop"])
def test_processes_started_by_a_pinned_thread_get_the_original_mask(client_from_cpu, mode) -> None:
    """W3, for processes: PyMongo's mongocryptd, a user's callback."""
    make, cpu = client_from_cpu
    client = make(mode)
    client.hold_one_call()
    report = _on_thread_pinned_to(cpu, lambda: client.call(_masks_of_children))
    assert report["worker"] == [cpu]  # it was pinned when it started them
    assert (report["subprocess"], report["fork"]) == (repr(sorted(ORIGINAL)), repr(sorted(ORIGINAL)))


@needs_placement
def test_threads_started_by_a_pinned_worker_get_the_original_mask(client_from_cpu) -> None:
    """W3, for threads (PyMongo's monitors start on a worker at a client's
    first call): by the time the call's outcome is delivered."""
    make, cpu = client_from_cpu
    client = make()
    client.hold_one_call()
    release = threading.Event()
    masks: list = []
    started: list[threading.Thread] = []

    def start_a_thread() -> int:
        thread = threading.Thread(target=lambda: (release.wait(), masks.append(os.sched_getaffinity(0))))
        thread.start()
        started.append(thread)
        return thread.native_id

    try:
        tid = _on_thread_pinned_to(cpu, lambda: client.call(start_a_thread))
        assert frozenset(os.sched_getaffinity(tid)) == ORIGINAL
    finally:
        release.set()
        for thread in started:
            thread.join(60)
    assert [frozenset(mask) for mask in masks] == [ORIGINAL]  # what the thread itself saw afterwards


@needs_placement
def test_an_application_thread_pinned_on_purpose_is_left_alone(client_from_cpu) -> None:
    make, cpu = client_from_cpu
    client = make()
    client.hold_one_call()
    release = threading.Event()
    ready = threading.Event()

    def pinned_on_purpose() -> None:
        os.sched_setaffinity(0, {cpu})
        ready.set()
        release.wait()

    own = threading.Thread(target=pinned_on_purpose)
    own.start()
    try:
        assert ready.wait(60)
        # A job on the same CPU starts a thread (alive when the job ends):
        # the application's own thread is not "repaired".
        started: list[threading.Thread] = []

        def start_a_thread() -> None:
            started.append(threading.Thread(target=release.wait))
            started[-1].start()

        _on_thread_pinned_to(cpu, lambda: client.call(start_a_thread))
        assert frozenset(os.sched_getaffinity(started[0].native_id)) == ORIGINAL  # the job's thread
        assert os.sched_getaffinity(own.native_id) == {cpu}
    finally:
        release.set()
        own.join()
        for thread in started:
            thread.join(60)


@needs_placement
def test_a_forked_child_starts_unpinned() -> None:
    pin = _affinity._local.pin = _affinity._Pin(ORIGINAL)
    pin.cpu, pin.pinned = 0, True
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            child = _affinity._local.pin
            os.write(write, repr((child.pinned, child.cpu)).encode())
            os._exit(0)
        os.close(write)
        assert os.read(read, 100).decode() == "(False, -1)"
        os.close(read)
        os.waitpid(pid, 0)
    finally:
        del _affinity._local.pin


def test_the_audit_hook_never_raises(monkeypatch) -> None:
    """A failure inside it would fail the application's subprocess or thread start."""
    class Broken:
        @property
        def pinned(self) -> bool:
            raise RuntimeError("broken")

    monkeypatch.setattr(_affinity._local, "pin", Broken(), raising=False)
    _affinity._unpin_before_a_start("subprocess.Popen", ())


# -- a user's program -------------------------------------------------------------------

_PROGRAM = textwrap.dedent(
    """
    import asyncio, concurrent.futures, json, multiprocessing, os, subprocess, sys, threading
    from motorlike import _bridge
    from motorlike.motor_asyncio import AsyncIOMotorClient

    def mask(tid=0):
        return sorted(os.sched_getaffinity(tid))

    async def main():
        client = AsyncIOMotorClient(sys.argv[1], serverSelectionTimeoutMS=20000)
        collection = client.motorlike_test.placement
        await collection.insert_one({"_id": 1})
        loop_masks = []
        for _ in range(10):
            await asyncio.gather(*[collection.find_one({"_id": 1}) for _ in range(50)])
            loop_masks.append(mask())
        report = {"loop_while_busy": sorted({str(m) for m in loop_masks})}
        report["to_thread"] = await asyncio.to_thread(mask)
        for method in ("fork", "spawn", "forkserver"):
            context = multiprocessing.get_context(method)
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as processes:
                report[method] = await asyncio.get_running_loop().run_in_executor(processes, mask)
        report["subprocess"] = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            capture_output=True, text=True).stdout.strip()
        report["cpu_count_on_loop"] = len(os.sched_getaffinity(0))
        await collection.drop()
        client.close()
        return report

    if __name__ == "__main__":  # the spawn and forkserver children import this file
        report = asyncio.run(main())
        placement = _bridge.get_pool().placement
        workers = placement._workers
        report["workers_pinned"] = sum(1 for tid in workers if len(os.sched_getaffinity(tid)) == 1)
        others = [int(tid) for tid in os.listdir("/proc/self/task") if int(tid) not in workers]
        report["other_threads"] = sorted({str(mask(tid)) for tid in others})
        print(json.dumps(report))
    """
)


@needs_placement
def test_a_program_keeps_its_threads_and_processes_masks(server_uri, tmp_path) -> None:
    """``workers`` mode: a loop with calls in flight has its workers on its
    CPU, and nothing of the application's (its loop's thread,
    asyncio.to_thread, process pools of every start method, a subprocess,
    PyMongo's monitors) has a mask other than the process's."""
    script = tmp_path / "program.py"
    script.write_text(_PROGRAM)
    env = dict(os.environ, MOTORLIKE_WORKER_AFFINITY="workers")
    out = subprocess.run(
        [sys.executable, str(script), server_uri], capture_output=True, text=True, env=env, timeout=300, check=False,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    everything = sorted(ORIGINAL)
    assert report["loop_while_busy"] == [str(everything)]
    assert report["cpu_count_on_loop"] == len(everything)
    for started in ("to_thread", "fork", "spawn", "forkserver"):
        assert report[started] == everything, started
    assert report["subprocess"] == repr(everything)
    assert report["other_threads"] == [str(everything)]
    assert report["workers_pinned"] >= 1  # placement did happen


@needs_placement
def test_a_thread_ending_during_the_job_does_not_hide_one_starting(client_from_cpu) -> None:
    """The number of threads stays the same; the new one is still found."""
    make, cpu = client_from_cpu
    client = make()
    client.hold_one_call()
    finish_old = threading.Event()
    release = threading.Event()
    old = threading.Thread(target=finish_old.wait)
    old.start()
    started: list[threading.Thread] = []

    def swap_threads() -> None:
        finish_old.set()
        old.join()
        started.append(threading.Thread(target=release.wait))
        started[-1].start()

    try:
        _on_thread_pinned_to(cpu, lambda: client.call(swap_threads))
        assert frozenset(os.sched_getaffinity(started[0].native_id)) == ORIGINAL
    finally:
        finish_old.set()
        release.set()
        for thread in started:
            thread.join(60)
