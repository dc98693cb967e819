"""Tests of PyMongo's suite that synchro's runner does not run, each with its reason.

An entry's ``id`` is a pytest node id: it matches that test, or, when it
names a file, a class or a parametrized function, every test under it; an
id ending in ``*`` matches every test whose id starts with the rest. An
entry matching no collected test is an error (``check``): a stale entry
would hide nothing and mislead the reader.

``runs`` says which runs skip it:

``both``
    the embedded test server (mongoeco) cannot run it sensibly; skipped by the
    plain PyMongo baseline and by synchro alike, so it is in no count. The
    runner's ``--no-server-exclusions`` runs these (for a real mongod).
``synchro``
    it exercises something Motor's API deliberately does differently; skipped
    through synchro only, and reported as excluded, never as passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable


@dataclass(frozen=True)
class Exclusion:
    id: str
    reason: str
    runs: str = "synchro"

    def __post_init__(self) -> None:
        if self.runs not in ("both", "synchro"):
            raise ValueError(f"runs must be 'both' or 'synchro', not {self.runs!r}")
        if not self.reason.strip():
            raise ValueError(f"exclusion {self.id!r} needs a reason")
        if "::" not in self.id and not self.id.endswith(".py"):
            raise ValueError(f"exclusion {self.id!r} is not a pytest node id")
        if "*" in self.id[:-1]:
            raise ValueError(f"exclusion {self.id!r}: '*' may only end an id")

    @property
    def file(self) -> str:
        return self.id.split("::", 1)[0]

    def as_dict(self) -> dict:
        return asdict(self)


EXCLUSIONS: tuple[Exclusion, ...] = (
    Exclusion(
        "test/test_retryable_reads.py::TestPoolPausedError::test_pool_paused_error_is_retryable",
        "with maxPoolSize=1 it needs its second find waiting inside PyMongo's connection pool when the "
        "pool is cleared (a ConnectionCheckOutFailedEvent); motorlike keeps a client's calls beyond its "
        "pool in the client's lane, holding no thread (doc/reliability.md), so that find starts only once "
        "the first is over and sees a ready pool: it succeeds, with other CMAP events",
    ),
    Exclusion(
        "test/test_client.py::TestClient::test_interrupt_signal",
        "mongoeco runs no server-side JavaScript: the $where query fails at once, so the test's "
        "signal.alarm(1) is still pending when it restores pytest-timeout's SIGALRM handler; a second "
        "later that handler fails whatever runs then (on a busy machine, the failure report itself: "
        "an INTERNALERROR that ends the whole run)",
        runs="both",
    ),
    Exclusion(
        "test/test_collection.py::TestCollection::test_numerous_inserts",
        "inserts maxWriteBatchSize + 100 = 100,100 documents in one insert_many; mongoeco takes "
        "minutes over it and keeps the server busy after the client gives up, failing later tests",
        runs="both",
    ),
    Exclusion(
        "test/test_collection.py::TestCollection::test_large_limit",
        "inserts 2,000 documents of 10 KB (20 MB) in one insert_many; mongoeco needs about 22 s for it, "
        "past PyMongo's 20 s heartbeat timeout (connectTimeoutMS), whose failure interrupts the insert "
        "(_OperationCancelled): plain PyMongo passes or fails it by a second either way",
        runs="both",
    ),
    Exclusion(
        "test/test_bulk.py::TestBulk::test_numerous_inserts",
        "bulk-writes maxWriteBatchSize + 100 = 100,100 documents, twice; as above, mongoeco stalls for minutes",
        runs="both",
    ),
    Exclusion(
        "test/test_session.py::TestSession::test_implicit_sessions_checkout",
        "fails on mongoeco (it rejects an empty update spec) and then returns without joining its "
        "threads; one that finishes after the test closed its client raises there, and pytest charges "
        "that to whichever test runs next (test_killcursors), at random",
        runs="both",
    ),
    Exclusion(
        "test/test_bulk.py::TestBulk::test_bulk_max_message_size",
        "sends one 48 MB insert of three 16 MB strings and 10,000 small documents; mongoeco works on it "
        "for minutes after the client's socket timeout, and every later test of the run times out",
        runs="both",
    ),
    # -- Motor's API differs by design ------------------------------------
    *(
        Exclusion(
            node,
            f"PyMongo's {name} defines next(), raising TypeError; in Motor's API {attribute}.next is the "
            f"{'database' if name == 'MongoClient' else 'collection'} named 'next'",
        )
        for node, name, attribute in (
            ("test/test_client.py::ClientUnitTest::test_iteration", "MongoClient", "client"),
            ("test/test_database.py::TestDatabaseNoConnect::test_iteration", "Database", "db"),
            ("test/test_collection.py::TestCollectionNoConnect::test_iteration", "Collection", "coll"),
        )
    ),
    Exclusion(
        "test/test_client.py::TestClient::test_constants",
        "sets MongoClient.HOST and MongoClient.PORT on the class as the defaults for new clients; Motor's "
        "client classes only read HOST and PORT from the PyMongo client, whose class they do not expose",
    ),
    # PyMongo's _METADATA gains an `env` entry in a container, which these
    # tests do not expect: plain PyMongo fails them there, and passes them
    # on any other host, where motorlike's addition is what fails them.
    *(
        Exclusion(
            node,
            "compares the client's handshake metadata with PyMongo's own, exactly; motorlike, like Motor, "
            "appends its own DriverInfo (name, version, platform) to it by design",
        )
        for node in (
            "test/test_client.py::ClientUnitTest::test_metadata",
            "test/test_client.py::ClientUnitTest::test_metadata_appends_driver_info",
            "test/test_client.py::TestClient::test_handshake_*",
        )
    ),
    Exclusion(
        "test/test_cursor.py::TestCursor::test_clone",
        "compares cursor.__dict__ with its clone's; a synchro cursor's __dict__ holds only its motorlike "
        "cursor, which is a new object for each clone (the clone's options are checked by the other tests)",
    ),
    Exclusion(
        "test/test_session.py::TestSession::test_gridfs",
        "uses the legacy gridfs.GridFS class, which Motor's API does not have (only GridFSBucket)",
    ),
    Exclusion(
        "test/test_gridfs.py",
        "tests the legacy gridfs.GridFS class (put, get, get_version ...), which Motor 2.0 removed "
        "in favour of GridFSBucket; motorlike keeps Motor's choice (test_gridfs_bucket.py runs the bucket)",
    ),
    Exclusion(
        "test/test_grid_file.py::TestGridFile::test_grid_in_default_opts",
        "reads the file back with the legacy gridfs.GridFS class (get_last_version), which Motor 2.0 removed",
    ),
    Exclusion(
        "test/test_grid_file.py::TestGridFile::test_grid_out_cursor_options",
        "builds a GridOutCursor directly from a collection (Motor's API gets one from bucket.find() only) "
        "and, as test_cursor's test_clone, compares cursor.__dict__ with its clone's",
    ),
    Exclusion(
        "test/test_grid_file.py::TestGridFile::test_iterator",
        "iterates a GridOut expecting lines, as PyMongo 4's io-based GridOut gives; Motor's GridOut "
        "iterates chunk by chunk ('async for chunk in grid_out', as Motor documents), and motorlike keeps that",
    ),
    *(
        Exclusion(
            node,
            "patches PyMongo's private upload buffer limits (gridfs' _UPLOAD_BUFFER_SIZE, _UPLOAD_BUFFER_CHUNKS) "
            "to make its GridIn insert sooner; motorlike's own GridIn inserts a window of chunks at a time "
            "(motor_gridfs.WINDOW_BYTES) whatever those say. test/test_grid_in.py and test/test_gridfs.py "
            "check its batching, abort and errors",
        )
        for node in (
            "test/test_gridfs_bucket.py::TestGridfs::test_abort",
            "test/test_gridfs_bucket.py::TestGridfs::test_upload_batching",
            "test/test_gridfs_bucket.py::TestGridfs::test_upload_bulk_write_error",
        )
    ),
)


def matches(entry_id: str, node_id: str) -> bool:
    """Whether the exclusion ``entry_id`` covers the test ``node_id``."""
    if node_id == entry_id:
        return True
    if entry_id.endswith("*"):
        return node_id.startswith(entry_id[:-1])
    if not node_id.startswith(entry_id):
        return False
    rest = node_id[len(entry_id) :]
    return rest.startswith("::") or rest.startswith("[")


def applicable(
    mode: str,
    files: Iterable[str] | None = None,
    entries: Iterable[Exclusion] = EXCLUSIONS,
    server_exclusions: bool = True,
) -> list[Exclusion]:
    """Entries that apply to a run in ``mode`` ('plain' or 'synchro') over ``files`` (None: all)."""
    wanted = None if files is None else set(files)
    result = []
    for entry in entries:
        if mode == "plain" and entry.runs != "both":
            continue
        if entry.runs == "both" and not server_exclusions:
            continue
        if wanted is not None and entry.file not in wanted:
            continue
        result.append(entry)
    return result


class StaleExclusionError(Exception):
    """An exclusion entry matched no test."""


def unmatched(entries: Iterable[Exclusion], collected: Iterable[str]) -> list[Exclusion]:
    """The entries that match none of the ``collected`` node ids."""
    collected = list(collected)
    return [entry for entry in entries if not any(matches(entry.id, node) for node in collected)]


def check(entries: Iterable[Exclusion], collected: Iterable[str]) -> None:
    """Raise :class:`StaleExclusionError` if an entry matches no collected test."""
    stale = unmatched(entries, collected)
    if stale:
        listing = "\n".join(f"  {entry.id}  ({entry.reason})" for entry in stale)
        raise StaleExclusionError(f"{len(stale)} exclusion entr{'y' if len(stale) == 1 else 'ies'} matched no test:\n{listing}")
