"""The embedded server on a port of one's choosing: ``EmbeddedServer(port=)``,
``python -m motorlike.testserver --port / --prefer-port``.

Ports are chosen below the OS's ephemeral range, where nothing that asks
for "any free port" (other test runs, their servers) lands, and held by the
test itself when it needs one taken.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import signal
import socket
import subprocess
import sys

import pytest
from pymongo import MongoClient

from motorlike import testserver

pytestmark = pytest.mark.no_server

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_fixed_ports():
    """Ports free when yielded, outside the range the OS hands out for port 0.

    Another process may take one between the check and its use (another
    run of these tests, say): the tests then go on to the next one.
    """
    low, _ = _ephemeral_range()
    first = max(1024, low - 8000) + os.getpid() % 4000  # concurrent runs start apart
    for port in range(first, low):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        yield port
    pytest.fail(f"no free port between {first} and {low}")


def started_on_a_fixed_port() -> testserver.EmbeddedServer:
    for attempt, port in enumerate(free_fixed_ports()):
        server = testserver.EmbeddedServer(port=port)
        try:
            server.start()
            return server
        except testserver.PortInUseError:
            server.stop()
            if attempt >= 20:
                raise


def serving_command_line_on_a_fixed_port(option: str) -> tuple[subprocess.Popen, int, str]:
    """``python -m motorlike.testserver OPTION PORT`` serving: the process, the port, the URI it printed."""
    for attempt, port in enumerate(free_fixed_ports()):
        process = _command_line(option, str(port))
        uri = process.stdout.readline().strip()
        if uri:
            return process, port, uri
        code, errors = _stop(process, terminate=False)
        if "in use" not in errors or attempt >= 20:
            pytest.fail(f"exited {code} without a URI: {errors}")


@pytest.fixture
def taken_port():
    """A port something else listens on for the length of the test."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def _command_line(*arguments: str) -> subprocess.Popen:
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    environment.pop(testserver.TEST_URI_ENV, None)
    return subprocess.Popen(
        [sys.executable, "-m", "motorlike.testserver", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
    )


def _stop(process: subprocess.Popen, *, terminate: bool = True) -> tuple[int, str]:
    """Stop a serving command line as Ctrl-C would (or, ``terminate=False``,
    wait for it to exit by itself); its exit code and stderr."""
    try:
        if terminate:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        return code, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_the_launcher_and_testserver_agree_on_the_port_in_use_code() -> None:
    spec = importlib.util.spec_from_file_location("launcher", testserver.LAUNCHER_PATH)
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    assert launcher.PORT_IN_USE_EXIT_CODE == testserver._server._LAUNCHER_PORT_IN_USE


def test_the_server_listens_on_the_port_asked_for() -> None:
    server = started_on_a_fixed_port()
    try:
        port = server.requested_port
        assert server.port == port
        assert server.uri == f"mongodb://127.0.0.1:{port}/"
        with MongoClient(f"mongodb://localhost:{port}", serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command("ping")["ok"] == 1
    finally:
        server.stop()


def test_a_taken_port_is_a_clear_error(taken_port: int) -> None:
    server = testserver.EmbeddedServer(port=taken_port)
    try:
        with pytest.raises(testserver.PortInUseError, match=rf"port {taken_port} on 127\.0\.0\.1 is in use"):
            server.start()
        assert not server.running
    finally:
        server.stop()


def test_a_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="65535"):
        testserver.EmbeddedServer(port=70000)


def test_command_line_port_serves_there() -> None:
    process, port, uri = serving_command_line_on_a_fixed_port("--port")
    try:
        assert uri == f"mongodb://127.0.0.1:{port}/"
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command("ping")["ok"] == 1
    finally:
        code, _ = _stop(process)
    assert code == 0


def test_command_line_port_taken_exits_with_the_reason(taken_port: int) -> None:
    process = _command_line("--port", str(taken_port))
    code, errors = _stop(process, terminate=False)
    assert code == 1
    assert f"port {taken_port} on 127.0.0.1 is in use" in errors
    assert "Traceback" not in errors


def test_command_line_prefer_port_falls_back_to_a_free_port(taken_port: int) -> None:
    process = _command_line("--prefer-port", str(taken_port))
    uri = process.stdout.readline().strip()
    try:
        assert uri.startswith("mongodb://127.0.0.1:") and uri != f"mongodb://127.0.0.1:{taken_port}/"
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command("ping")["ok"] == 1
    finally:
        code, errors = _stop(process)
    assert code == 0
    assert f"port {taken_port} is in use; serving on a free port instead" in errors


def test_command_line_prefer_port_uses_it_when_free() -> None:
    port = next(free_fixed_ports())
    process = _command_line("--prefer-port", str(port))
    uri = process.stdout.readline().strip()
    code, errors = _stop(process)
    assert code == 0
    # Taken meanwhile by someone else, it would serve elsewhere and say so.
    if "in use; serving on a free port instead" not in errors:
        assert uri == f"mongodb://127.0.0.1:{port}/"


@pytest.mark.parametrize("arguments", [["--port", "x"], ["--port", "1", "--prefer-port", "2"], ["--probe", "--port", "5"]])
def test_command_line_refuses_bad_port_arguments(arguments: list[str]) -> None:
    process = _command_line(*arguments)
    code, errors = _stop(process, terminate=False)
    assert code == 2, errors
    assert "usage:" in errors
