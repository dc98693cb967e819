"""The worker pool that runs PyMongo's blocking calls.

Sizing from the environment, the cap on concurrent calls, contextvars
reaching the worker threads, a fresh pool after fork, and what happens when
the waiting task is cancelled or its loop closed while a call is in flight:
the call finishes on its thread, its outcome is dropped quietly and the
connection goes back to PyMongo's pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import select
import signal
import threading
import time
import traceback
import warnings
from typing import Any

import pytest
from pymongo import monitoring

from motorlike import _bridge
from motorlike.frameworks import asyncio as asyncio_framework
from test.test_mockupdb import (  # noqa: F401 - mock is a fixture
    FRAMEWORK_MODULES,
    MockServer,
    client_for,
    cursor_reply,
    mock,
)

DB_NAME = os.environ.get("MOTORLIKE_TEST_DB", "motorlike_test")

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


@pytest.fixture
def single_worker(monkeypatch: pytest.MonkeyPatch) -> _bridge.WorkerPool:
    """Replace the process's pool by one with a single worker.

    One worker runs jobs in submission order, and its results reach the loop
    in that order too, so awaiting a later job proves an earlier one is done.
    """
    pool = _bridge.WorkerPool(1)
    monkeypatch.setattr(_bridge, "_pool", pool)
    yield pool
    pool.shutdown(wait=False)


class ExceptionHandlerSpy:
    """Installed as the running loop's exception handler; records every call."""

    def __init__(self) -> None:
        self.contexts: list[dict] = []

    def install(self) -> None:
        asyncio.get_running_loop().set_exception_handler(self)

    def __call__(self, loop: Any, context: dict) -> None:
        self.contexts.append(context)


class CommandSpy(monitoring.CommandListener):
    """Records, per command, the thread it ran on and a context variable."""

    def __init__(self) -> None:
        self.started_events: list[tuple[str, str | None, int]] = []
        self.finished = threading.Event()
        self.finished_names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.started_events.append((event.command_name, request_id.get(None), threading.get_ident()))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.finished_names.append(event.command_name)
        self.finished.set()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.finished_names.append(event.command_name)
        self.finished.set()


# ---------------------------------------------------------------------------
# Size


@pytest.mark.parametrize(
    "motorlike_value, motor_value, expected",
    [
        ("7", None, 7),
        (None, "3", 3),
        ("5", "9", 5),  # motorlike's own variable wins
        ("", "4", 4),  # empty counts as unset
    ],
)
def test_max_workers_from_environment(monkeypatch, motorlike_value, motor_value, expected) -> None:
    for name, value in (("MOTORLIKE_MAX_WORKERS", motorlike_value), ("MOTOR_MAX_WORKERS", motor_value)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert _bridge.max_workers_from_environment() == expected


def test_max_workers_default(monkeypatch) -> None:
    monkeypatch.delenv("MOTORLIKE_MAX_WORKERS", raising=False)
    monkeypatch.delenv("MOTOR_MAX_WORKERS", raising=False)
    assert _bridge.max_workers_from_environment() == _bridge.DEFAULT_MAX_WORKERS
    assert _bridge.DEFAULT_MAX_WORKERS == (os.cpu_count() or 1) * 5


@pytest.mark.parametrize("variable", ["MOTORLIKE_MAX_WORKERS", "MOTOR_MAX_WORKERS"])
@pytest.mark.parametrize("bad", ["abc", "0", "-2", "1.5"])
def test_bad_max_workers_raise(monkeypatch, variable, bad) -> None:
    monkeypatch.delenv("MOTORLIKE_MAX_WORKERS", raising=False)
    monkeypatch.delenv("MOTOR_MAX_WORKERS", raising=False)
    monkeypatch.setenv(variable, bad)
    with pytest.raises(ValueError, match=variable):
        _bridge.max_workers_from_environment()


def test_get_pool_is_sized_from_environment(monkeypatch) -> None:
    monkeypatch.setattr(_bridge, "_pool", None)
    monkeypatch.setenv("MOTORLIKE_MAX_WORKERS", "nope")
    with pytest.raises(ValueError):
        _bridge.get_pool()
    monkeypatch.setenv("MOTORLIKE_MAX_WORKERS", "2")
    pool = _bridge.get_pool()
    try:
        assert pool.max_workers == 2
        assert _bridge.get_pool() is pool
    finally:
        pool.shutdown()


async def test_pool_runs_at_most_max_workers_at_once() -> None:
    # Calls shorter than queue_wait never make the pool grow past max_workers.
    pool = _bridge.WorkerPool(2, queue_wait=60)
    loop = asyncio.get_running_loop()
    lock = threading.Lock()
    active = 0
    peak = 0
    threads: set[int] = set()

    def blocking(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            active -= 1
        return n * n

    try:
        for _ in range(2):
            futures = []
            for n in range(5):
                future = loop.create_future()
                pool.submit(loop, future, blocking, (n,), {})
                futures.append(future)
            assert await asyncio.wait_for(asyncio.gather(*futures), 5) == [0, 1, 4, 9, 16]
        assert peak == 2
        assert pool.thread_count == 2
        assert len(threads) == 2
        assert threading.get_ident() not in threads
    finally:
        pool.shutdown()


async def test_sequential_calls_reuse_one_worker(framework: str, monkeypatch) -> None:
    # A caller that submits its next call as soon as the last one's result
    # arrives must find the worker idle, not start another thread.
    pool = _bridge.WorkerPool(4)
    monkeypatch.setattr(_bridge, "_pool", pool)
    module = FRAMEWORK_MODULES[framework]
    loop = module.get_event_loop()
    try:
        idents = {await module.run_on_executor(loop, threading.get_ident) for _ in range(50)}
        assert len(idents) == 1
        assert pool.thread_count == 1
    finally:
        pool.shutdown()


async def test_framework_calls_respect_the_cap(framework: str, monkeypatch) -> None:
    pool = _bridge.WorkerPool(2, queue_wait=60)
    monkeypatch.setattr(_bridge, "_pool", pool)
    module = FRAMEWORK_MODULES[framework]
    loop = module.get_event_loop()
    lock = threading.Lock()
    counts = {"active": 0, "peak": 0}

    def blocking() -> None:
        with lock:
            counts["active"] += 1
            counts["peak"] = max(counts["peak"], counts["active"])
        time.sleep(0.03)
        with lock:
            counts["active"] -= 1

    try:
        await asyncio.wait_for(asyncio.gather(*(module.run_on_executor(loop, blocking) for _ in range(5))), 5)
        assert counts["peak"] == 2
    finally:
        pool.shutdown()


async def test_worker_exceptions_reach_the_caller(framework: str) -> None:
    module = FRAMEWORK_MODULES[framework]

    def fail() -> None:
        raise KeyError("from the worker")

    with pytest.raises(KeyError, match="from the worker"):
        await module.run_on_executor(module.get_event_loop(), fail)


# ---------------------------------------------------------------------------
# contextvars


async def test_context_variables_reach_the_worker(framework: str) -> None:
    module = FRAMEWORK_MODULES[framework]
    loop = module.get_event_loop()

    def read_and_change() -> tuple[str | None, int]:
        value = request_id.get(None)
        request_id.set("changed on the worker")
        return value, threading.get_ident()

    async def in_task(value: str) -> tuple[str | None, int]:
        request_id.set(value)
        result = await module.run_on_executor(loop, read_and_change)
        # The worker ran in a copy: the task's own value is untouched.
        assert request_id.get() == value
        return result

    results = await asyncio.gather(*(in_task(f"task-{n}") for n in range(4)))
    assert [value for value, _ in results] == [f"task-{n}" for n in range(4)]
    assert all(ident != threading.get_ident() for _, ident in results)
    assert request_id.get(None) is None


async def test_context_variables_reach_pymongo_listeners(framework: str, mock: MockServer) -> None:
    mock.on("ping", {"ok": 1}, forever=True)
    spy = CommandSpy()
    client = client_for(framework, mock.uri, event_listeners=[spy])

    async def ping(value: str) -> None:
        request_id.set(value)
        await client.admin.command("ping", comment=value)

    try:
        await asyncio.gather(ping("first"), ping("second"))
    finally:
        client.close()
    pings = [(value, ident) for name, value, ident in spy.started_events if name == "ping"]
    assert sorted(value for value, _ in pings) == ["first", "second"]
    assert all(ident != threading.get_ident() for _, ident in pings)
    # And each ping carried its own task's value, not the other's.
    comments = {doc["comment"] for doc in mock.documents("ping")}
    assert comments == {"first", "second"}


async def test_context_variables_with_real_server(framework: str, server_uri: str) -> None:
    spy = CommandSpy()
    client = client_for(framework, server_uri, event_listeners=[spy])
    try:
        request_id.set("real")
        await client.admin.command("ping")
    finally:
        client.close()
    assert ("ping", "real") in [(name, value) for name, value, _ in spy.started_events]
    assert all(ident != threading.get_ident() for name, _, ident in spy.started_events if name == "ping")


# ---------------------------------------------------------------------------
# fork


def _child_after_fork(uri: str, parent_pool: _bridge.WorkerPool) -> dict:
    from motorlike.motor_asyncio import AsyncIOMotorClient

    pool = _bridge.get_pool()
    threads_at_start = pool.thread_count

    async def main() -> tuple[bool, Any]:
        loop = asyncio.get_running_loop()
        ident = await asyncio.wait_for(asyncio_framework.run_on_executor(loop, threading.get_ident), 5)
        client = AsyncIOMotorClient(uri, serverSelectionTimeoutMS=5000)
        try:
            result = await asyncio.wait_for(client.db.coll.insert_one({"_id": "from the child"}), 10)
        finally:
            client.close()
        return ident != threading.get_ident(), result.inserted_id

    on_worker, inserted = asyncio.run(main())
    return {
        "fresh": pool is not parent_pool,
        "same_pool_again": _bridge.get_pool() is pool,
        "threads_at_start": threads_at_start,
        "threads_after": pool.thread_count,
        "on_worker": on_worker,
        "inserted": inserted,
    }


def test_fork_child_gets_a_fresh_pool(mock: MockServer) -> None:
    mock.on("insert", {"n": 1, "ok": 1}, forever=True)

    async def warm_up() -> None:
        await asyncio_framework.run_on_executor(asyncio.get_running_loop(), time.sleep, 0)

    asyncio.run(warm_up())
    parent_pool = _bridge.get_pool()
    assert parent_pool.thread_count >= 1

    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            os.close(read_end)
            try:
                report = _child_after_fork(mock.uri, parent_pool)
            except BaseException:
                report = {"error": traceback.format_exc()}
            os.write(write_end, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)

    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([read_end], [], [], 0.1)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            pytest.fail("the forked child did not finish in time")
    finally:
        os.close(read_end)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    report = json.loads(b"".join(chunks))
    assert "error" not in report, report.get("error")
    assert report == {
        "fresh": True,
        "same_pool_again": True,
        "threads_at_start": 0,
        "threads_after": 1,
        "on_worker": True,
        "inserted": "from the child",
    }
    # The parent's pool is untouched.
    assert _bridge.get_pool() is parent_pool
    assert mock.documents("insert")[0]["documents"] == [{"_id": "from the child"}]


# ---------------------------------------------------------------------------
# Cancellation


FIVE = [{"_id": n} for n in range(5)]


async def test_cancelled_call_finishes_and_returns_its_connection(
    framework: str, mock: MockServer, single_worker
) -> None:
    spy = ExceptionHandlerSpy()
    spy.install()
    commands = CommandSpy()
    client = client_for(framework, mock.uri, maxPoolSize=1, event_listeners=[commands])
    try:
        task = asyncio.ensure_future(client.db.coll.find_one({"_id": 1}))
        held = await mock.receive("find")
        # The call is in flight on the worker: cancel the waiting task.
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        held.replies(cursor_reply(0, "db.coll", [{"_id": 1}]))
        # The call ran to its end on its thread ...
        assert await asyncio.to_thread(commands.finished.wait, 5)
        assert commands.finished_names == ["find"]
        # ... and gave its connection back: with maxPoolSize=1 the next
        # operation gets it at once, on the same socket.
        mock.on("find", cursor_reply(0, "db.coll", [{"_id": 2}]))
        assert await asyncio.wait_for(client.db.coll.find_one({"_id": 2}), 5) == {"_id": 2}
        first_port, second_port = [port for (name, _), port in zip(mock.commands, mock.ports) if name == "find"]
        assert first_port == second_port
    finally:
        client.close()
    # The dropped result never reached the loop as an error (InvalidStateError ...).
    assert spy.contexts == []


async def test_cancel_while_to_list_waits_for_a_batch(framework: str, mock: MockServer, single_worker) -> None:
    spy = ExceptionHandlerSpy()
    spy.install()
    mock.on("find", cursor_reply(42, "db.coll", FIVE[:2]))
    client = client_for(framework, mock.uri, maxPoolSize=1)
    try:
        cursor = client.db.coll.find().batch_size(2)

        async def read_all() -> list:
            return await cursor.to_list()

        task = asyncio.ensure_future(read_all())
        held = await mock.receive("getMore")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        held.replies(cursor_reply(0, "db.coll", FIVE[2:], first=False))
        mock.on("ping", {"ok": 1})
        assert await asyncio.wait_for(client.admin.command("ping"), 5) == {"ok": 1}
        # What the cancelled to_list had collected went back to the cursor.
        assert await asyncio.wait_for(cursor.to_list(), 5) == FIVE
    finally:
        client.close()
    assert spy.contexts == []


async def test_cancel_while_async_for_waits_for_a_batch(framework: str, mock: MockServer, single_worker) -> None:
    spy = ExceptionHandlerSpy()
    spy.install()
    mock.on("find", cursor_reply(42, "db.coll", FIVE[:2]))
    client = client_for(framework, mock.uri, maxPoolSize=1)
    received = []
    try:
        cursor = client.db.coll.find().batch_size(2)

        async def iterate() -> None:
            async for document in cursor:
                received.append(document)

        task = asyncio.ensure_future(iterate())
        held = await mock.receive("getMore")
        assert received == FIVE[:2]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        held.replies(cursor_reply(42, "db.coll", FIVE[2:4], first=False))
        # The cursor stays usable and the batch fetched for the cancelled
        # wait is not lost: documents are popped on the loop, not the worker.
        mock.on("getMore", cursor_reply(0, "db.coll", FIVE[4:], first=False))
        rest = [document async for document in cursor]
        assert received + rest == FIVE
    finally:
        client.close()
    assert spy.contexts == []


class CancelWhileRunning(monitoring.CommandListener):
    """Cancels ``task`` from inside PyMongo's call, once ``command`` has started.

    The worker waits until the loop has cancelled the task, so the call is
    certainly still in flight when its waiter goes away: a slow operation
    on any server, however fast the server is.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Future | None = None
        self.cancelled = threading.Event()
        self.finished = threading.Event()

    def _cancel(self) -> None:
        self.task.cancel()
        self.cancelled.set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == self.command and self.task is not None and not self.cancelled.is_set():
            self.loop.call_soon_threadsafe(self._cancel)
            self.cancelled.wait(5)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == self.command:
            self.finished.set()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if event.command_name == self.command:
            self.finished.set()


async def test_cancelled_write_completes_on_real_server(
    framework: str, server_uri: str, sync_client, single_worker
) -> None:
    spy = ExceptionHandlerSpy()
    spy.install()
    listener = CancelWhileRunning("insert")
    client = client_for(framework, server_uri, maxPoolSize=1, event_listeners=[listener])
    name = f"cancel_{os.getpid()}_{framework}_{int(time.monotonic() * 1000)}"
    collection = client[DB_NAME][name]
    try:
        listener.loop = asyncio.get_running_loop()
        listener.task = task = asyncio.ensure_future(collection.insert_one({"_id": 1}))
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        assert listener.cancelled.is_set()
        assert await asyncio.to_thread(listener.finished.wait, 5)
        # The insert happened, and the single connection is free again.
        assert await asyncio.wait_for(collection.find_one({"_id": 1}), 5) == {"_id": 1}
    finally:
        client.close()
        sync_client[DB_NAME].drop_collection(name)
    assert spy.contexts == []


def test_loop_closed_while_call_in_flight(framework: str, mock: MockServer, single_worker, monkeypatch, capfd) -> None:
    thread_errors: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)
    client = client_for(framework, mock.uri, maxPoolSize=1)
    try:
        cursor = client.db.coll.find()

        async def start() -> Any:
            return cursor.to_list()  # a future, submitted at once; not awaited

        loop = asyncio.new_event_loop()
        try:
            future = loop.run_until_complete(start())
            held = mock.server.receives(timeout=5)
            assert held.command_name == "find"
        finally:
            loop.close()
        held.replies(cursor_reply(0, "db.coll", [{"_id": 1}]))

        async def afterwards() -> Any:
            mock.on("find", cursor_reply(0, "db.coll", [{"_id": 2}]))
            return await asyncio.wait_for(client.db.coll.find_one(), 5)

        # The single worker survived, and the connection was given back.
        assert asyncio.run(afterwards()) == {"_id": 2}
        assert not future.done()
    finally:
        client.close()
    assert thread_errors == []
    assert single_worker.thread_count == 1
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Error" not in captured.err


async def test_call_cancelled_before_it_starts_is_skipped(single_worker) -> None:
    """With the only worker busy, a queued call whose task is cancelled never runs."""
    loop = asyncio.get_running_loop()
    release = threading.Event()
    ran: list[str] = []

    def blocker() -> None:
        release.wait(5)

    def queued() -> None:
        ran.append("queued")

    busy = asyncio_framework.run_on_executor(loop, blocker)
    waiting = asyncio.ensure_future(asyncio_framework.run_on_executor(loop, queued))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.sleep(0)
    release.set()
    await busy
    # A third call proves the worker went past the cancelled one.
    assert await asyncio_framework.run_on_executor(loop, lambda: "after") == "after"
    assert ran == []


async def test_next_call_waits_for_an_abandoned_one(framework: str, mock: MockServer) -> None:
    """With many workers, a call after a cancelled one must not drive the cursor concurrently."""
    mock.on("find", cursor_reply(42, "db.coll", FIVE[:2]))
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find().batch_size(2)
        assert [await cursor.next(), await cursor.next()] == FIVE[:2]
        abandoned = asyncio.ensure_future(cursor.next())
        held = await mock.receive("getMore")
        abandoned.cancel()
        # Asked while the getMore is still in flight on its worker.
        following = asyncio.ensure_future(cursor.next())
        await asyncio.sleep(0.05)
        assert not following.done()
        held.replies(cursor_reply(0, "db.coll", FIVE[2:], first=False))
        assert await asyncio.wait_for(following, 5) == FIVE[2]
        assert [document async for document in cursor] == FIVE[3:]
        # One getMore in all: the second call used the batch the first fetched.
        assert mock.names().count("getMore") == 1
    finally:
        client.close()


# ---------------------------------------------------------------------------
# The elastic pool: stuck workers, background calls, refused threads


def _submit_all(pool: _bridge.WorkerPool, loop: asyncio.AbstractEventLoop, fn: Any, count: int) -> list:
    futures = []
    for _ in range(count):
        future = loop.create_future()
        pool.submit(loop, future, fn, (), {})
        futures.append(future)
    return futures


async def test_stuck_workers_are_replaced_and_the_busy_pool_does_not_grow() -> None:
    pool = _bridge.WorkerPool(2, queue_wait=0.02)
    loop = asyncio.get_running_loop()
    release = threading.Event()
    try:
        stuck = _submit_all(pool, loop, lambda: release.wait(10), 2)
        quick = _submit_all(pool, loop, lambda: None, 20)
        await asyncio.wait_for(asyncio.gather(*quick), 5)
        # Two stuck workers held up twenty quick calls only until the watchdog
        # looked, not until they were released (that comes only now).
        assert not any(future.done() for future in stuck)
        release.set()
        await asyncio.wait_for(asyncio.gather(*stuck), 5)
        grown = pool.thread_count
        assert 3 <= grown <= 22
        # Quick calls, however many, run on the threads there are. "Quick" is
        # relative to queue_wait: on a shared CI machine a thread can wait
        # 20 ms and more for a CPU, which would rightly count as stuck.
        pool.queue_wait = 0.5
        await asyncio.wait_for(asyncio.gather(*_submit_all(pool, loop, lambda: time.sleep(0.001), 300)), 10)
        assert pool.thread_count <= grown
    finally:
        release.set()
        pool.shutdown()


def test_extra_threads_end_when_idle() -> None:
    pool = _bridge.WorkerPool(2, queue_wait=0.01, idle_timeout=0.2)
    release = threading.Event()
    done = threading.Semaphore(0)

    class Waiter:
        def cancelled(self) -> bool:
            return False

    def deliver(*_: Any) -> None:
        done.release()

    try:
        for _ in range(12):
            pool.submit(None, Waiter(), release.wait, (5,), {}, deliver)
        deadline = time.monotonic() + 5
        while pool.thread_count < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.thread_count == 12
        release.set()
        for _ in range(12):
            assert done.acquire(timeout=5)
        deadline = time.monotonic() + 5
        while pool.thread_count > 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.thread_count == 2
    finally:
        release.set()
        pool.shutdown()


async def test_a_background_call_runs_even_if_its_awaiter_gives_up(monkeypatch) -> None:
    pool = _bridge.WorkerPool(1)
    monkeypatch.setattr(_bridge, "_pool", pool)
    ran = threading.Event()

    def slow_close() -> str:
        time.sleep(0.1)
        ran.set()
        return "closed"

    try:
        call = _bridge.BackgroundCall(slow_close, framework=asyncio_framework)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(call, 0.01)
        assert await asyncio.wait_for(call, 5) == "closed"  # awaitable again, after all
        assert ran.is_set()
        # The worker survived and serves the next call.
        loop = asyncio.get_running_loop()
        assert await asyncio.wait_for(asyncio.gather(*_submit_all(pool, loop, lambda: 7, 3)), 5) == [7, 7, 7]
        assert pool.thread_count == 1
    finally:
        pool.shutdown()


async def test_refused_threads_lose_no_job(monkeypatch) -> None:
    pool = _bridge.WorkerPool(1, queue_wait=0.01)
    loop = asyncio.get_running_loop()
    real_start = _bridge._thread.start_new_thread
    refusals = {"left": 0}

    def start_new_thread(*args: Any) -> Any:
        if refusals["left"]:
            refusals["left"] -= 1
            raise RuntimeError("can't start new thread")
        return real_start(*args)

    monkeypatch.setattr(_bridge._thread, "start_new_thread", start_new_thread)
    release = threading.Event()
    try:
        stuck = _submit_all(pool, loop, lambda: release.wait(10), 1)
        refusals["left"] = 2  # the watchdog's first tries fail
        waiting = _submit_all(pool, loop, lambda: "ran", 5)
        assert await asyncio.wait_for(asyncio.gather(*waiting), 5) == ["ran"] * 5
        release.set()
        await asyncio.wait_for(asyncio.gather(*stuck), 5)
        # A refused start in submit() raises to the caller and queues nothing.
        pool.shutdown()
        fresh = _bridge.WorkerPool(1)
        refusals["left"] = 1
        with pytest.raises(RuntimeError, match="can't start"):
            fresh.submit(loop, loop.create_future(), lambda: None, (), {})
        assert fresh.thread_count == 0 and fresh.queued == 0
        fresh.shutdown()
    finally:
        release.set()
        pool.shutdown()


async def test_a_refused_watchdog_thread_queues_nothing(monkeypatch) -> None:
    pool = _bridge.WorkerPool(1, queue_wait=0.01)
    loop = asyncio.get_running_loop()
    release = threading.Event()
    real_start = threading.Thread.start
    refusals = {"left": 1}

    def start(self: threading.Thread) -> None:
        if self.name == "motorlike-pool-watchdog" and refusals["left"]:
            refusals["left"] -= 1
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    try:
        stuck = _submit_all(pool, loop, lambda: release.wait(10), 1)
        with pytest.raises(RuntimeError, match="can't start"):
            pool.submit(loop, loop.create_future(), lambda: "never", (), {})
        assert pool.queued == 0  # the caller was told, and nothing will run behind its back
        # The next call gets a watchdog, and a thread despite the stuck worker.
        assert await asyncio.wait_for(asyncio.gather(*_submit_all(pool, loop, lambda: "ran", 2)), 5) == ["ran"] * 2
        release.set()
        await asyncio.wait_for(asyncio.gather(*stuck), 5)
    finally:
        release.set()
        pool.shutdown()
