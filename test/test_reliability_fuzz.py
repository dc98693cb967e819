"""A bounded fuzz of documents, filters and arguments, against plain PyMongo.

Each example runs one operation through motorlike and through synchronous
PyMongo, on two collections of the test server that have seen the same
operations. Both must succeed with the same result or fail with the same
exception type: motorlike adds no exception of its own and loses none. No
command and no connection check-out runs on the event loop's thread (the
loop never waits on the network: checked by thread, not by a stopwatch, so
a busy machine cannot fail it), and the worker pool must still serve calls
afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pymongo import monitoring

from test.conftest import make_client

# Keys include what BSON or the server refuse: "$", ".", NUL, "".
keys = st.text(alphabet="ab$.\x00_", max_size=4)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.binary(max_size=6)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=6
)
documents = st.dictionaries(keys, values, max_size=4)
odd_numbers = st.one_of(st.integers(min_value=-3, max_value=5), st.none(), st.floats(allow_nan=False), st.text(max_size=2))

operations = st.one_of(
    st.tuples(st.just("insert_one"), documents),
    st.tuples(st.just("find"), documents, odd_numbers, odd_numbers, odd_numbers),
    st.tuples(st.just("count_documents"), documents),
    st.tuples(st.just("update_one"), documents, documents),
    st.tuples(st.just("delete_many"), documents),
    st.tuples(st.just("sort"), st.one_of(keys, st.lists(st.tuples(keys, odd_numbers), max_size=2))),
)


def run_sync(collection: Any, operation: tuple) -> Any:
    name, *args = operation
    if name == "find":
        query, skip, limit, batch_size = args
        return collection.find(query, skip=skip, limit=limit, batch_size=batch_size).to_list(20)
    if name == "sort":
        return collection.find().sort(args[0]).to_list(20)
    if name == "insert_one":
        return collection.insert_one(dict(args[0])).acknowledged
    if name == "update_one":
        return collection.update_one(args[0], args[1]).matched_count
    if name == "delete_many":
        return collection.delete_many(args[0]).deleted_count
    return getattr(collection, name)(*args)


async def run_async(collection: Any, operation: tuple) -> Any:
    name, *args = operation
    if name == "find":
        query, skip, limit, batch_size = args
        return await collection.find(query, skip=skip, limit=limit, batch_size=batch_size).to_list(20)
    if name == "sort":
        return await collection.find().sort(args[0]).to_list(20)
    if name == "insert_one":
        return (await collection.insert_one(dict(args[0]))).acknowledged
    if name == "update_one":
        return (await collection.update_one(args[0], args[1])).matched_count
    if name == "delete_many":
        return (await collection.delete_many(args[0])).deleted_count
    return await getattr(collection, name)(*args)


class NetworkThreads(monitoring.CommandListener, monitoring.ConnectionPoolListener):
    """The threads on which commands started and connections were checked out or made."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def _record(self, event: Any) -> None:
        self.threads.add(threading.get_ident())

    started = connection_check_out_started = connection_created = _record

    def _ignore(self, event: Any) -> None:
        pass

    succeeded = failed = connection_checked_out = connection_check_out_failed = connection_checked_in = _ignore
    connection_ready = connection_closed = pool_created = pool_ready = pool_cleared = pool_closed = _ignore


def outcome_of(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - compared below
        return type(exc).__name__, None


def without_ids(result: Any) -> Any:
    # The two collections give inserted documents different ObjectIds.
    if isinstance(result, list):
        return [{k: v for k, v in doc.items() if k != "_id"} for doc in result]
    return result


@pytest.mark.parametrize("framework", ["asyncio", "tornado"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operations, min_size=1, max_size=4))
def test_motorlike_fails_as_pymongo_does(framework: str, server_uri: str, sync_client: Any, operations: list) -> None:
    name = f"fuzz_{uuid.uuid4().hex[:10]}"
    plain = sync_client.motorlike_test[f"{name}_plain"]
    network = NetworkThreads()
    client = make_client(framework, server_uri, event_listeners=[network])
    ours = client.motorlike_test[f"{name}_ours"]

    async def run_all() -> list:
        outcomes = []
        for operation in operations:
            try:
                outcomes.append(("ok", await run_async(ours, operation)))
            except Exception as exc:  # noqa: BLE001 - compared below
                outcomes.append((type(exc).__name__, None))
        # The pool still serves calls: no worker died of what came out.
        assert await client.admin.command("ping") == {"ok": 1.0}
        assert network.threads, "the listener saw no command, not even the ping"
        assert threading.get_ident() not in network.threads, "a command or check-out ran on the loop's thread"
        return outcomes

    try:
        expected = [outcome_of(lambda op=op: run_sync(plain, op)) for op in operations]
        got = asyncio.run(run_all())
    finally:
        client.close()
        sync_client.motorlike_test.drop_collection(f"{name}_plain")
        sync_client.motorlike_test.drop_collection(f"{name}_ours")
    for kind, _ in expected:
        event(f"PyMongo: {kind}")  # pytest --hypothesis-show-statistics shows the mix
    assert [(kind, without_ids(value)) for kind, value in got] == [
        (kind, without_ids(value)) for kind, value in expected
    ]
