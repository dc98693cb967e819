"""The embedded server's process: started on 127.0.0.1 from the server venv,
ready once it answers ``hello``, stopped and cleaned up afterwards."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Iterator

from motorlike.testserver._venv import MONGOECO_VERSION, TEST_URI_ENV, _venv_python, ensure_server_venv

LAUNCHER_PATH = pathlib.Path(__file__).with_name("_mongoeco_launcher.py")

DEFAULT_STARTUP_TIMEOUT = 60.0

#: The launcher's exit code when the port asked for is taken (its
#: PORT_IN_USE_EXIT_CODE: the launcher cannot be imported from here).
_LAUNCHER_PORT_IN_USE = 98

class PortInUseError(RuntimeError):
    """The port asked for on 127.0.0.1 is taken (by a mongod, say)."""


class EmbeddedServer:
    """mongoeco's wire server in a child process on 127.0.0.1.

    ``start()`` returns ``mongodb://127.0.0.1:PORT/`` once the server answers
    ``hello``; ``stop()`` ends it. Also a context manager yielding itself.
    The server's stdout and stderr go to ``log_path``. ``port``: the port to
    listen on (``PortInUseError`` if taken); 0, the default, lets the OS
    pick a free one.
    """

    def __init__(self, *, port: int = 0, startup_timeout: float = DEFAULT_STARTUP_TIMEOUT) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) or 1-65535, not {port}")
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.uri: str | None = None
        self.port: int | None = None
        self.log_path: pathlib.Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._work_dir: pathlib.Path | None = None
        self._sigterm = _SigtermAsExit()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> EmbeddedServer:
        self._sigterm.install()
        try:
            self.start()
        except BaseException:
            self._sigterm.restore()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            self._sigterm.restore()

    def start(self) -> str:
        if self.running and self.uri is not None:
            return self.uri
        self.stop()  # clear what a dead process left behind
        venv = ensure_server_venv()
        self._work_dir = pathlib.Path(tempfile.mkdtemp(prefix="motorlike-server-"))
        self.log_path = self._work_dir / "server.log"
        port_file = self._work_dir / "port"
        command = [
            str(_venv_python(venv)),
            "-I",  # isolated: no PYTHONPATH, no user site, no script dir on sys.path
            str(LAUNCHER_PATH),
            "--port-file",
            str(port_file),
            "--expect-mongoeco-version",
            MONGOECO_VERSION,
            "--port",
            str(self.requested_port),
        ]
        with open(self.log_path, "wb") as log_file:
            self._process = subprocess.Popen(
                command,
                # Never written to: the launcher exits when this pipe closes,
                # i.e. when this process goes away without calling stop().
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Its own process group, so stop() can signal the server and
                # anything it spawns, and a terminal's Ctrl-C reaches only us.
                start_new_session=(os.name != "nt"),
            )
        try:
            self.port = self._wait_for_port(port_file)
            self.uri = f"mongodb://127.0.0.1:{self.port}/"
            self._wait_for_hello()
        except BaseException:
            self._stop_process()
            raise
        return self.uri

    def stop(self) -> None:
        self._stop_process()
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        self.uri = None
        self.port = None

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL if os.name != "nt" else signal.SIGTERM)
        if process.poll() is None or os.name == "nt":
            process.wait()  # reap: no zombie
        else:
            # The leader is gone; end stragglers in its group, if any.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if process.stdin is not None:
            process.stdin.close()

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], signal_number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "nt":
                process.send_signal(signal_number)
            else:
                os.killpg(process.pid, signal_number)

    def _fail(self, reason: str) -> RuntimeError:
        log_tail = ""
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                log_tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        return RuntimeError(f"embedded MongoDB server (mongoeco): {reason}\n--- server log ({self.log_path}) ---\n{log_tail}")

    def _wait_for_port(self, port_file: pathlib.Path) -> int:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if port_file.exists():
                return int(port_file.read_text(encoding="ascii"))
            exit_code = self._process.poll()
            if exit_code == _LAUNCHER_PORT_IN_USE:
                raise PortInUseError(
                    f"port {self.requested_port} on 127.0.0.1 is in use: stop what listens there, "
                    "or use another port (0 picks a free one)"
                )
            if exit_code is not None:
                raise self._fail(f"exited with code {exit_code} before listening")
            time.sleep(0.05)
        raise self._fail(f"not listening after {self.startup_timeout:.0f}s")

    def _wait_for_hello(self) -> None:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        assert self._process is not None and self.uri is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise self._fail(f"exited with code {self._process.returncode} during startup")
            client: MongoClient = MongoClient(self.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
            try:
                client.admin.command("hello")
                return
            except PyMongoError as error:
                last_error = error
            finally:
                client.close()
        raise self._fail(f"no answer to hello after {self.startup_timeout:.0f}s: {last_error}")


# --------------------------------------------------------------------------
# Choosing the test server
# --------------------------------------------------------------------------


def test_server_uri() -> str | None:
    """``MOTORLIKE_TEST_URI`` if set (and not empty), else None."""
    return os.environ.get(TEST_URI_ENV) or None


# Named test_* by request; keep pytest from collecting it when a test
# module imports it by name.
test_server_uri.__test__ = False  # type: ignore[attr-defined]


class _SigtermAsExit:
    """While a server runs, let SIGTERM unwind the program as Ctrl-C does.

    Python's default for SIGTERM ends the process at once, leaving the
    server's directory behind; as SystemExit, ``with`` blocks and
    ``finally`` clauses run and ``stop()`` cleans up. Only when SIGTERM has
    no handler yet and this is the main thread (the only place one can be
    set); the previous handler comes back afterwards.
    """

    def __init__(self) -> None:
        self._previous: object = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self._previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def restore(self) -> None:
        previous, self._previous = self._previous, None
        if previous is not None and signal.getsignal(signal.SIGTERM) is _exit_on_sigterm:
            signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def _exit_on_sigterm(signal_number: int, frame: object) -> None:
    raise SystemExit(128 + signal_number)


@contextlib.contextmanager
def server_uri() -> Iterator[str]:
    """Yield ``MOTORLIKE_TEST_URI``, or the URI of an embedded server stopped afterwards."""
    configured = test_server_uri()
    if configured is not None:
        yield configured
        return
    with EmbeddedServer() as server:
        assert server.uri is not None
        yield server.uri
