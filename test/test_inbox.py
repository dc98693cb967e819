"""The asyncio loop inbox: worker outcomes delivered in batches, once each, in order."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from motorlike.frameworks._inbox import LoopInbox, inbox_for

pytestmark = pytest.mark.no_server


def _record(into: list) -> object:
    def deliver(waiter, result, error):
        into.append((waiter, result, error))

    return deliver


def test_outcomes_that_arrive_while_the_loop_is_busy_take_one_wake_up():
    loop = asyncio.new_event_loop()
    try:
        inbox = inbox_for(loop)
        assert isinstance(inbox, LoopInbox) and inbox_for(loop) is inbox
        delivered: list = []
        drains = []
        real_call = loop.call_soon_threadsafe

        def counting_call(callback, *args):
            drains.append(len(inbox))
            return real_call(callback, *args)

        loop.call_soon_threadsafe = counting_call  # type: ignore[method-assign]
        # The loop is not running: everything put now waits for one drain.
        for number in range(10):
            inbox.call_soon_threadsafe(_record(delivered), number, number * 2, None)
        loop.run_until_complete(asyncio.sleep(0))
        assert drains == [1]  # asked for when the first arrived; the next nine joined it
        assert delivered == [(n, n * 2, None) for n in range(10)]
        # And the next put schedules a new drain.
        inbox.call_soon_threadsafe(_record(delivered), 10, 20, None)
        loop.run_until_complete(asyncio.sleep(0))
        assert drains == [1, 1] and delivered[-1] == (10, 20, None)
    finally:
        loop.close()


def test_many_threads_each_outcome_once_and_in_each_threads_order():
    loop = asyncio.new_event_loop()
    delivered: list = []
    threads_count, per_thread = 8, 400

    def producer(thread_number: int) -> None:
        inbox = inbox_for(loop)
        for sequence in range(per_thread):
            inbox.call_soon_threadsafe(_record(delivered), thread_number, sequence, None)

    async def main() -> None:
        threads = [threading.Thread(target=producer, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        while len(delivered) < threads_count * per_thread:
            await asyncio.sleep(0.001)
        for thread in threads:
            thread.join()
        await asyncio.sleep(0.01)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert len(delivered) == threads_count * per_thread
    for number in range(threads_count):
        assert [seq for who, seq, _ in delivered if who == number] == list(range(per_thread))


def test_a_closed_loop_raises_and_the_inbox_recovers():
    loop = asyncio.new_event_loop()
    inbox = inbox_for(loop)
    loop.close()
    with pytest.raises(RuntimeError):
        inbox.call_soon_threadsafe(_record([]), 1, 1, None)
    assert len(inbox) == 0 and inbox._scheduled is False
    with pytest.raises(RuntimeError):
        inbox.call_soon_threadsafe(_record([]), 2, 2, None)


def test_a_failing_delivery_costs_no_other(caplog):
    loop = asyncio.new_event_loop()
    delivered: list = []

    def broken(waiter, result, error):
        raise ValueError("broken deliver")

    try:
        inbox = inbox_for(loop)
        inbox.call_soon_threadsafe(_record(delivered), 1, "a", None)
        inbox.call_soon_threadsafe(broken, 2, "b", None)
        inbox.call_soon_threadsafe(_record(delivered), 3, "c", None)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    assert delivered == [(1, "a", None), (3, "c", None)]
    assert "could not be delivered" in caplog.text  # through the loop's exception handler


def test_a_delivery_interrupted_by_keyboard_interrupt_is_made_again_with_the_rest_in_order():
    loop = asyncio.new_event_loop()
    delivered: list = []
    interrupted: list = []

    def interrupted_once(waiter, result, error):
        if not interrupted:
            interrupted.append(result)
            raise KeyboardInterrupt
        delivered.append((waiter, result, error))

    try:
        inbox = inbox_for(loop)
        inbox.call_soon_threadsafe(_record(delivered), 1, "a", None)
        inbox.call_soon_threadsafe(interrupted_once, 2, "b", None)
        inbox.call_soon_threadsafe(_record(delivered), 3, "c", None)
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(asyncio.sleep(0.01))
        assert delivered == [(1, "a", None)] and interrupted == ["b"]
        loop.run_until_complete(asyncio.sleep(0))
        assert delivered == [(1, "a", None), (2, "b", None), (3, "c", None)]
        assert len(inbox) == 0 and not inbox._scheduled
    finally:
        loop.close()


def test_a_loop_closed_with_a_drain_pending_is_freed_with_its_outcomes():
    import weakref

    class Big:
        pass

    loop = asyncio.new_event_loop()
    big = Big()
    big_ref, loop_ref = weakref.ref(big), weakref.ref(loop)
    inbox_for(loop).call_soon_threadsafe(_record([]), loop.create_future(), big, None)
    del big
    loop.close()  # the pending drain is dropped with the loop's queue
    with pytest.raises(RuntimeError, match="closed"):  # later outcomes: as asyncio's own
        inbox_for(loop).call_soon_threadsafe(_record([]), 2, 2, None)
    del loop
    gc.collect()
    assert loop_ref() is None and big_ref() is None


def test_loops_that_cannot_carry_an_inbox_get_none():
    class SlotLoop:
        __slots__ = ()

        def call_soon_threadsafe(self, *args):
            pass

    slot_loop = SlotLoop()
    assert inbox_for(slot_loop) is slot_loop


@pytest.mark.parametrize("framework_name", ["asyncio", "tornado"])
def test_futures_resolved_through_the_pool_in_submission_order_under_load(framework_name):
    """End to end, both frameworks: 500 quick calls through the framework's
    submit, each resolved once with its own result, through the loop's inbox."""
    import importlib

    framework = importlib.import_module(f"motorlike.frameworks.{framework_name}")

    async def main() -> list:
        loop = framework.get_event_loop()
        futures = [framework.submit(loop, lambda n=n: n, (), {}) for n in range(500)]
        results = await asyncio.gather(*futures)
        # The outcomes came through the inbox of the asyncio loop underneath.
        # (inbox_for would make one on demand: read the loop's attribute.)
        inbox = getattr(asyncio.get_running_loop(), "_motorlike_inbox", None)
        assert isinstance(inbox, LoopInbox) and len(inbox) == 0
        return results

    assert asyncio.run(main()) == list(range(500))
