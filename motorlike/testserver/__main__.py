"""``python -m motorlike.testserver``: serve the embedded server, or probe one.

    python -m motorlike.testserver                      # any free port; prints the URI
    python -m motorlike.testserver --port 27017         # where the docs' examples connect
    python -m motorlike.testserver --prefer-port 27017  # 27017 if free, else any free port
    python -m motorlike.testserver --probe [--uri URI]  # what a server can do, as JSON

The URI goes to stdout, alone on its line, so that scripts can read it;
everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time

from motorlike import testserver

#: Where every example in the documentation connects.
DOCS_PORT = 27017


def _start(port: int, prefer_port: int | None) -> testserver.EmbeddedServer:
    """A started server on ``port``, or on ``prefer_port`` when free, else any free port."""
    if prefer_port is not None:
        try:
            return _started(testserver.EmbeddedServer(port=prefer_port))
        except testserver.PortInUseError:
            print(f"port {prefer_port} is in use; serving on a free port instead", file=sys.stderr, flush=True)
    return _started(testserver.EmbeddedServer(port=port))


def _started(server: testserver.EmbeddedServer) -> testserver.EmbeddedServer:
    try:
        server.start()
    except BaseException:
        server.stop()  # its directory too: the error says what went wrong
        raise
    return server


def _serve_until_interrupted(port: int, prefer_port: int | None) -> int:
    def exit_on_sigterm(signal_number: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_on_sigterm)
    server = _start(port, prefer_port)
    try:
        print(server.uri, flush=True)
        if server.port == DOCS_PORT:
            print(
                f"the documentation's examples (mongodb://localhost:{DOCS_PORT}) run as written",
                file=sys.stderr,
                flush=True,
            )
        print(f"serving (log: {server.log_path}); Ctrl-C to stop", file=sys.stderr, flush=True)
        try:
            while server.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        print(f"server exited unexpectedly; see {server.log_path}", file=sys.stderr)
        return 1
    finally:
        server.stop()


def _print_probe(uri: str | None) -> int:
    if uri is None:
        uri = testserver.test_server_uri()
    with contextlib.ExitStack() as stack:
        if uri is None:
            uri = stack.enter_context(testserver.EmbeddedServer()).uri
        assert uri is not None
        print(json.dumps(testserver.probe_capabilities(uri), indent=2, sort_keys=True))
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 (any free one) to 65535, not {port}")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m motorlike.testserver",
        description="Run the embedded MongoDB test server (mongoeco) on 127.0.0.1, or probe a server.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--port",
        type=_port,
        default=0,
        help=f"the port to serve on; an error if it is taken (default 0: any free port; "
        f"{DOCS_PORT}: the documentation's examples run as written)",
    )
    where.add_argument(
        "--prefer-port",
        type=_port,
        metavar="PORT",
        help=f"serve on PORT when it is free, else on any free port (e.g. {DOCS_PORT})",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help=f"print the server's capabilities as JSON (of --uri, else ${testserver.TEST_URI_ENV}, "
        "else an embedded server)",
    )
    parser.add_argument("--uri", help="the server to probe (with --probe)")
    options = parser.parse_args(argv)
    if options.probe:
        if options.port or options.prefer_port is not None:
            parser.error("--port and --prefer-port are for serving, not with --probe")
        return _print_probe(options.uri)
    if options.uri:
        parser.error("--uri only makes sense with --probe")
    try:
        return _serve_until_interrupted(options.port, options.prefer_port)
    except testserver.PortInUseError as error:
        print(f"python -m motorlike.testserver: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
