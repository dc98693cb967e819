"""Strands: the calls on one object run one at a time, in the order made.

The unit tests drive a :class:`~motorlike._strand.Strand` through a pool of
their own; the others use real objects on the embedded server: GridIn
writes nobody awaited, a GridOut seek after an abandoned read, objects
carried across ``fork()``. No test waits on time: threads and loops are
synchronised with events, and what ran is recorded in order.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import uuid
from typing import Any

import pytest
from pymongo.errors import InvalidOperation

from motorlike import _bridge
from motorlike._strand import Strand



@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> _bridge.WorkerPool:
    pool = _bridge.WorkerPool(4)
    monkeypatch.setattr(_bridge, "_pool", pool)
    yield pool
    pool.shutdown(wait=False)


class NeverCancelled:
    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False


class Recorder:
    """Records the calls a strand runs, and that no two ever overlap."""

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.in_flight = 0
        self.overlaps = 0
        self._lock = threading.Lock()
        self.all_done = threading.Event()
        self.expected = 0

    def call(self, number: int) -> None:
        with self._lock:
            self.in_flight += 1
            self.overlaps += self.in_flight > 1
        with self._lock:
            self.ran.append(number)
            self.in_flight -= 1
            if len(self.ran) == self.expected:
                self.all_done.set()


def test_calls_made_from_many_threads_run_one_at_a_time_in_the_order_made(pool) -> None:
    strand = Strand()
    recorder = Recorder()
    recorder.expected = 4 * 200
    made = threading.Lock()  # "the order made" is the order of submit()
    numbers = iter(range(recorder.expected))

    def make_calls() -> None:
        for _ in range(200):
            with made:
                pool.submit(None, NeverCancelled(), recorder.call, (next(numbers),), {}, lambda *_: None, strand=strand)

    threads = [threading.Thread(target=make_calls) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recorder.all_done.wait(30)
    assert recorder.ran == list(range(recorder.expected))
    assert recorder.overlaps == 0
    assert strand.idle


def test_a_waiting_call_holds_no_thread(pool) -> None:
    strand = Strand()
    release = threading.Event()
    recorder = Recorder()
    recorder.expected = 100
    pool.submit(None, NeverCancelled(), release.wait, (30,), {}, lambda *_: None, strand=strand)
    for number in range(100):
        pool.submit(None, NeverCancelled(), recorder.call, (number,), {}, lambda *_: None, strand=strand)
    # One thread runs the first call; the hundred others wait in the strand,
    # not in the pool's queues and not on threads.
    assert pool.thread_count == 1
    assert pool.queued == 0
    release.set()
    assert recorder.all_done.wait(30)
    assert recorder.ran == list(range(100))


@pytest.mark.parametrize("seed", range(5))
async def test_cancelled_waiting_calls_never_run_and_the_rest_keep_their_order(pool, seed: int) -> None:
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    strand = Strand()
    release = threading.Event()
    ran: list[int] = []
    first = loop.create_future()
    pool.submit(loop, first, release.wait, (30,), {}, _bridge.deliver_to_future, strand=strand)
    futures = []
    for number in range(60):
        future = loop.create_future()
        pool.submit(loop, future, ran.append, (number,), {}, _bridge.deliver_to_future, strand=strand)
        futures.append(future)
    cancelled = {number for number in range(60) if rng.random() < 0.4}
    for number in cancelled:
        futures[number].cancel()
    release.set()
    await first
    await asyncio.gather(*futures, return_exceptions=True)
    assert ran == [number for number in range(60) if number not in cancelled]
    assert strand.idle


async def test_calls_from_two_loops_in_two_threads_keep_one_order(pool) -> None:
    strand = Strand()
    made = threading.Lock()
    numbers = iter(range(400))
    ran: list[int] = []

    def make(number: int) -> None:
        ran.append(number)

    async def caller() -> None:
        loop = asyncio.get_running_loop()
        futures = []
        for _ in range(200):
            future = loop.create_future()
            with made:
                pool.submit(loop, future, make, (next(numbers),), {}, _bridge.deliver_to_future, strand=strand)
            futures.append(future)
            if len(futures) % 16 == 0:
                await asyncio.sleep(0)  # let the other thread's loop make calls in between
        await asyncio.gather(*futures)

    other = threading.Thread(target=asyncio.run, args=(caller(),))
    other.start()
    await caller()
    other.join()
    assert ran == list(range(400))


# ---------------------------------------------------------------------------
# GridFS: calls made without await still run in order


def _bucket(framework: str, client: Any, name: str) -> Any:
    if framework == "asyncio":
        from motorlike.motor_asyncio import AsyncIOMotorGridFSBucket as bucket_class
    else:
        from motorlike.motor_tornado import MotorGridFSBucket as bucket_class
    return bucket_class(client.motorlike_test, name)


@pytest.fixture
def bucket(framework: str, server_uri: str, sync_client: Any) -> Any:
    from test.conftest import make_client

    client = make_client(framework, server_uri)
    name = f"strand_{uuid.uuid4().hex[:12]}"
    yield _bucket(framework, client, name), sync_client.motorlike_test[name]
    sync_client.motorlike_test.drop_collection(f"{name}.files")
    sync_client.motorlike_test.drop_collection(f"{name}.chunks")
    client.close()


async def test_unawaited_writes_then_close_store_every_file(bucket) -> None:
    """What mongomotor's GridFS proxy does: write() without await, then close()."""
    motor_bucket, root = bucket
    for number in range(200):
        grid_in = motor_bucket.open_upload_stream(f"file{number}", chunk_size_bytes=64)
        grid_in.write(b"%d:" % number + b"x" * 100)  # not awaited
        await grid_in.close()
    lengths = {document["filename"]: document["length"] for document in root.files.find()}
    assert len(lengths) == 200
    assert all(lengths[f"file{n}"] == len(b"%d:" % n) + 100 for n in range(200))


async def test_seek_after_an_abandoned_read_reads_from_the_new_position(bucket, monkeypatch) -> None:
    motor_bucket, _ = bucket
    data = bytes(range(256)) * 256  # 64 KiB
    file_id = await motor_bucket.upload_from_stream("seek", data, chunk_size_bytes=4096)
    grid_out = await motor_bucket.open_download_stream(file_id)
    # The read stops after its first chunk until the test lets it go on.
    started, release = threading.Event(), threading.Event()
    readchunk = grid_out.delegate.readchunk

    def gated_readchunk() -> bytes:
        chunk = readchunk()
        if not release.is_set():
            started.set()
            release.wait(30)
        return chunk

    monkeypatch.setattr(grid_out.delegate, "readchunk", gated_readchunk)
    reading = asyncio.ensure_future(grid_out.read(48 * 1024))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
    reading.cancel()  # the caller gives up; the read goes on, on its worker
    with pytest.raises(asyncio.CancelledError):
        await reading
    with pytest.raises(InvalidOperation, match="still running"):
        grid_out.tell()  # the position depends on the read still running
    assert grid_out.seek(0) == 0
    assert grid_out.tell() == 0  # known: a seek was the last call made
    assert grid_out.seek(10, os.SEEK_CUR) == 10
    release.set()
    assert await grid_out.read(1024) == data[10:1034]
    assert await grid_out.read() == data[1034:]
    assert grid_out.tell() == len(data)


async def test_setting_a_grid_in_field_while_a_call_runs_raises(bucket) -> None:
    motor_bucket, _ = bucket
    grid_in = motor_bucket.open_upload_stream("fields", chunk_size_bytes=8)
    started, release = threading.Event(), threading.Event()

    def gate() -> None:  # a call on the file's strand that holds it
        started.set()
        release.wait(30)

    holding = grid_in._run(gate)
    writing = grid_in.write(b"abc")  # waits its turn behind the gate
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
    with pytest.raises(InvalidOperation, match="still running"):
        grid_in.filename = "renamed"
    release.set()
    await holding
    await writing
    grid_in.filename = "renamed"  # nothing runs now
    await grid_in.close()
    assert grid_in.filename == "renamed"


# ---------------------------------------------------------------------------
# fork()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform has no os.fork")
async def test_a_cursor_made_before_fork_refuses_calls_in_the_child(framework: str, server_uri: str) -> None:
    from test.conftest import make_client

    client = make_client(framework, server_uri)
    try:
        cursor = client.motorlike_test.get_collection("fork_probe").find()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what reading the inherited cursor did
            outcome = b"no error"
            async def read_on() -> Any:
                return await asyncio.wait_for(cursor.to_list(None), 10)

            try:
                asyncio.run(read_on())
            except InvalidOperation as exc:
                outcome = b"InvalidOperation: " + str(exc).encode()
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                outcome = type(exc).__name__.encode()
            os.write(write, outcome)
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            outcome = await asyncio.get_running_loop().run_in_executor(None, pipe.read)
        os.waitpid(pid, 0)
        assert outcome.startswith(b"InvalidOperation: ") and b"fork" in outcome, outcome
        # The parent's cursor is unaffected.
        assert await cursor.to_list(None) == []
    finally:
        client.close()
