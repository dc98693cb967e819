"""What a MongoDB server can do, found by trying each feature.

:func:`probe_capabilities` is part of :mod:`motorlike.testserver`'s API
(re-exported there); the test suite skips what the server cannot do.
Only the standard library at import: PyMongo is imported when probing.
"""

from __future__ import annotations

import contextlib
import time
import uuid

def probe_capabilities(uri: str, *, timeout_ms: int = 3000) -> dict[str, bool | str]:
    """Find out what the server at ``uri`` supports by trying each feature.

    Boolean keys: ``buildInfo``, ``buildinfo_lowercase``, ``getParameter``,
    ``sessions``, ``transactions``, ``change_streams``, ``replica_set``;
    ``version`` is the server's version string ("" if unknown). Works against
    a real mongod too. Writes go to a scratch database that is dropped again.
    """
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    capabilities: dict[str, bool | str] = {}
    scratch_db_name = f"motorlike_probe_{uuid.uuid4().hex[:12]}"
    client: MongoClient = MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms, 10_000),
    )

    def succeeds(attempt) -> bool:
        try:
            return bool(attempt())
        except PyMongoError:
            return False

    try:
        hello = client.admin.command("hello")  # an unreachable server fails loudly here
        capabilities["version"] = str(hello.get("version") or "")
        capabilities["replica_set"] = "setName" in hello
        build_info: dict = {}

        def run_build_info() -> bool:
            build_info.update(client.admin.command("buildInfo"))
            return "version" in build_info

        capabilities["buildInfo"] = succeeds(run_build_info)
        capabilities["buildinfo_lowercase"] = succeeds(lambda: "version" in client.admin.command("buildinfo"))
        if not capabilities["version"]:
            capabilities["version"] = str(build_info.get("version", ""))
        capabilities["getParameter"] = succeeds(
            lambda: client.admin.command("getParameter", "*").get("ok") == 1
        )

        scratch = client[scratch_db_name]["probe"]

        def use_session() -> bool:
            if hello.get("logicalSessionTimeoutMinutes") is None:
                return False
            with client.start_session() as session:
                scratch.find_one({}, session=session)
            return True

        def commit_transaction() -> bool:
            scratch.insert_one({"setup": True})  # the collection must exist before a transaction on old servers
            # Ending the session aborts the transaction if commit was not reached.
            with client.start_session() as session:
                session.start_transaction()
                scratch.insert_one({"committed": True}, session=session)
                session.commit_transaction()
            return scratch.count_documents({"committed": True}) == 1

        def receive_change_event() -> bool:
            with scratch.watch(max_await_time_ms=200) as stream:
                scratch.insert_one({"watched": True})
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    change = stream.try_next()
                    if change is not None:
                        return change.get("operationType") == "insert"
            return False

        capabilities["sessions"] = succeeds(use_session)
        capabilities["transactions"] = capabilities["sessions"] and succeeds(commit_transaction)
        capabilities["change_streams"] = succeeds(receive_change_event)
    finally:
        with contextlib.suppress(PyMongoError):
            client.drop_database(scratch_db_name)
        client.close()
    return capabilities
