"""Run mongoeco's wire-protocol server on 127.0.0.1 for motorlike's tests.

This file is not imported by motorlike. :mod:`motorlike.testserver` runs it
as a script, in isolated mode, with the python of a separate venv (mongoeco
needs Python >= 3.13) that has ``mongoeco[wire]`` installed::

    <venv>/bin/python -I _mongoeco_launcher.py --port-file PATH --expect-mongoeco-version 4.11.0 [--port N]

It binds 127.0.0.1 on port N, or one the OS picks (N = 0, the default), and
exits with :data:`PORT_IN_USE_EXIT_CODE` if N is taken. It writes the port to
``--port-file`` (atomically, so the parent never reads half a number) and
prints a ready line to stdout. It exits on SIGTERM/SIGINT, and also when its
stdin reaches end-of-file: the parent holds the other end of that pipe, so
a parent that dies without cleaning up does not leave an orphan server.

The compatibility shims below are written against mongoeco 4.11.0's
internals and the launcher refuses any other mongoeco version.

Keep this file importable by Python 3.10 (it ships inside the motorlike
package, which byte-compiles it on install), even though it only runs
under 3.13+.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys
import threading
from typing import Any

# The only address this server may ever listen on.
LOOPBACK_HOST = "127.0.0.1"

# MongoDB version mongoeco emulates (its "dialect"); getParameter's
# featureCompatibilityVersion is derived from it.
MONGODB_DIALECT = "7.0"

READY_LINE_PREFIX = "MOTORLIKE_MONGOECO_READY"


# --------------------------------------------------------------------------
# Compatibility shims (mongoeco 4.11.0)
#
# Where they hook in: AsyncMongoEcoProxyServer.__init__ stores a
# WireCommandExecutor in ``self._executor``. For every request the proxy
# (mongoeco/wire/proxy.py, _decode_wire_context and _dispatch_wire_request)
# calls exactly three of its methods:
#
#   _build_request_context(body, connection=, db_name=, on_normalized=)
#       validates the command name against WireSurface.supported_commands
#       and raises "unsupported wire command: X" for anything else;
#   execute_prepared(context)  runs the context built above;
#   error_document(exc)        turns an exception into an {ok: 0} reply.
#
# The proxy treats the context as opaque, so ShimmedCommandExecutor wraps
# the real executor and rewrites or answers a few commands *before*
# mongoeco's validation sees them. Everything else passes through untouched.
# --------------------------------------------------------------------------

# getParameter values reported by the shim: what a default mongod 7.0
# standalone started with --setParameter enableTestCommands=1 reports,
# limited to the parameters drivers and their test suites look at.
SERVER_PARAMETERS: dict[str, Any] = {
    "featureCompatibilityVersion": {"version": MONGODB_DIALECT},
    "requireApiVersion": False,
    "enableTestCommands": True,
    "authenticationMechanisms": ["SCRAM-SHA-1", "SCRAM-SHA-256"],
    "transactionLifetimeLimitSeconds": 60,
    "maxTransactionLockRequestTimeoutMillis": 5,
    "cursorTimeoutMillis": 600000,
    "logLevel": 0,
    "quiet": False,
    "notablescan": False,
    "maxBSONDepth": 200,
    "internalQueryFacetBufferSizeBytes": 104857600,
}

# Parameters mongod lets you change with setParameter at runtime; only used
# for getParameter's {showDetails: true} form.
RUNTIME_SETTABLE_PARAMETERS = frozenset(
    {
        "requireApiVersion",
        "transactionLifetimeLimitSeconds",
        "maxTransactionLockRequestTimeoutMillis",
        "cursorTimeoutMillis",
        "logLevel",
        "quiet",
        "notablescan",
        "internalQueryFacetBufferSizeBytes",
    }
)

# Keys of a command body that are not getParameter parameter names.
GENERIC_COMMAND_ARGUMENTS = frozenset(
    {
        "getParameter",
        "$db",
        "$readPreference",
        "$clusterTime",
        "lsid",
        "txnNumber",
        "autocommit",
        "startTransaction",
        "apiVersion",
        "apiStrict",
        "apiDeprecationErrors",
        "comment",
        "maxTimeMS",
        "readConcern",
        "writeConcern",
    }
)


class LocalReply:
    """A request the shim answers itself; stands in for mongoeco's context."""

    __slots__ = ("document",)

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document


def command_error(message: str, code: int, code_name: str) -> LocalReply:
    return LocalReply({"ok": 0.0, "errmsg": message, "code": code, "codeName": code_name})


def answer_get_parameter(body: dict[str, Any], database: object) -> LocalReply:
    """Answer getParameter the way mongod does.

    Forms: {getParameter: '*'}, {getParameter: {allParameters: true}},
    {getParameter: 1, name1: 1, ...} and {getParameter: {showDetails: true}, ...}.
    mongoeco 4.11.0 does not know the command at all.
    """
    if database != "admin":
        return command_error(
            "getParameter may only be run against the admin database.", 13, "Unauthorized"
        )
    selector = body["getParameter"]
    show_details = isinstance(selector, dict) and bool(selector.get("showDetails"))
    want_all = selector == "*" or (isinstance(selector, dict) and bool(selector.get("allParameters")))
    if want_all:
        names = list(SERVER_PARAMETERS)
    else:
        names = [key for key in body if key not in GENERIC_COMMAND_ARGUMENTS]
        unknown = [name for name in names if name not in SERVER_PARAMETERS]
        if not names or unknown:
            return command_error("no option found to get", 72, "InvalidOptions")
    reply: dict[str, Any] = {}
    for name in names:
        value = SERVER_PARAMETERS[name]
        if show_details:
            value = {
                "value": value,
                "settableAtRuntime": name in RUNTIME_SETTABLE_PARAMETERS,
                "settableAtStartup": True,
            }
        reply[name] = value
    reply["ok"] = 1.0
    return LocalReply(reply)


def same_database_rename_target(body: dict[str, Any]) -> str | None:
    """The database a renameCollection within one database belongs to.

    mongod requires renameCollection to run against ``admin`` (PyMongo always
    sends it there); mongoeco 4.11.0 only accepts it in the database that owns
    both namespaces and rejects the admin form with "only supports namespaces
    in the current database". Moving such a request to that database keeps
    the command's meaning. Cross-database renames are left alone (mongoeco
    rejects them, as the gap report says).
    """
    source, target = body.get("renameCollection"), body.get("to")
    if not isinstance(source, str) or not isinstance(target, str):
        return None
    source_db, _, source_coll = source.partition(".")
    target_db, _, target_coll = target.partition(".")
    if source_db and source_db == target_db and source_coll and target_coll:
        return source_db
    return None


class ShimmedCommandExecutor:
    """Wraps mongoeco's WireCommandExecutor; see the block comment above."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def _build_request_context(
        self,
        body: dict[str, Any],
        *,
        connection: Any,
        db_name: str | None = None,
        on_normalized: Any = None,
    ) -> Any:
        # OP_QUERY passes the database separately; OP_MSG carries it in $db.
        database = db_name if db_name is not None else body.get("$db")
        command_name = next(iter(body), None)

        if command_name == "buildinfo":
            # mongod matches command names case-insensitively for buildInfo;
            # PyMongo's server_info() sends the lowercase spelling, which
            # mongoeco rejects. Rename the key, keeping it first.
            body = {"buildInfo": body["buildinfo"], **{k: v for k, v in body.items() if k != "buildinfo"}}

        elif command_name == "getParameter":
            if on_normalized is not None:
                on_normalized(command_name, body)
            return answer_get_parameter(body, database)

        elif command_name == "renameCollection" and database == "admin":
            owner = same_database_rename_target(body)
            if owner is not None:
                if db_name is not None:
                    db_name = owner
                else:
                    body = {**body, "$db": owner}

        return self._inner._build_request_context(
            body, connection=connection, db_name=db_name, on_normalized=on_normalized
        )

    async def execute_prepared(self, context: Any) -> dict[str, Any]:
        if isinstance(context, LocalReply):
            return context.document
        return await self._inner.execute_prepared(context)

    def error_document(self, exc: Exception) -> dict[str, Any]:
        return self._inner.error_document(exc)

    def __getattr__(self, name: str) -> Any:
        # Anything else the proxy might use goes to the real executor.
        return getattr(self._inner, name)


#: The exit code when the port asked for is taken: motorlike.testserver
#: turns it into PortInUseError (its own copy of the number, which a test
#: compares: this file is not importable from there). EADDRINUSE's number on
#: Linux; no other failure of this script exits with it.
PORT_IN_USE_EXIT_CODE = 98


def check_mongoeco_version(expected: str | None) -> None:
    from mongoeco._version import __version__

    if expected is not None and __version__ != expected:
        sys.exit(
            f"motorlike's mongoeco shims are written for mongoeco {expected}, "
            f"but this venv has {__version__}; rebuild the server venv."
        )


def build_server(port: int = 0) -> Any:
    from mongoeco.wire import AsyncMongoEcoProxyServer

    server = AsyncMongoEcoProxyServer(host=LOOPBACK_HOST, port=port, mongodb_dialect=MONGODB_DIALECT)
    executor = getattr(server, "_executor", None)
    if executor is None or not hasattr(executor, "_build_request_context"):
        sys.exit("mongoeco's proxy no longer has _executor._build_request_context; the shims need updating")
    server._executor = ShimmedCommandExecutor(executor)
    return server


# --------------------------------------------------------------------------
# Process lifecycle
# --------------------------------------------------------------------------


def write_port_file(path: str, port: int) -> None:
    # Write then rename: the parent polls for the file and must never see a
    # partly written one.
    partial_path = f"{path}.partial"
    with open(partial_path, "w", encoding="ascii") as handle:
        handle.write(f"{port}\n")
    os.replace(partial_path, path)


def stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    def wait_for_eof() -> None:
        # os.read on the raw fd, not sys.stdin.buffer: a daemon thread parked
        # inside the buffered reader holds its lock, and interpreter shutdown
        # then waits a second for that lock before giving up.
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="stdin-eof-watch", daemon=True).start()


async def serve(port_file: str | None, watch_stdin: bool, port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    if watch_stdin:
        stop_when_stdin_closes(loop, stop)

    server = build_server(port)
    try:
        address = await server.start()
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        print(f"port {port} on {LOOPBACK_HOST} is in use", file=sys.stderr, flush=True)
        sys.exit(PORT_IN_USE_EXIT_CODE)
    try:
        if address.host != LOOPBACK_HOST:
            raise RuntimeError(f"server bound {address.host}, expected {LOOPBACK_HOST}")
        if port_file is not None:
            write_port_file(port_file, address.port)
        print(f"{READY_LINE_PREFIX} {address.host} {address.port}", flush=True)
        await stop.wait()
    finally:
        await server.close()
    print("mongoeco server stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", help="write the bound port to this file once listening")
    parser.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default 0: one the OS picks)")
    parser.add_argument("--expect-mongoeco-version", help="refuse to run with another mongoeco version")
    parser.add_argument(
        "--ignore-stdin",
        action="store_true",
        help="do not exit when stdin closes (for running by hand with stdin at /dev/null)",
    )
    options = parser.parse_args(argv)
    check_mongoeco_version(options.expect_mongoeco_version)
    asyncio.run(serve(options.port_file, watch_stdin=not options.ignore_stdin, port=options.port))


if __name__ == "__main__":
    main()
