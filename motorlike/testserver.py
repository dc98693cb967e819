"""A MongoDB server for motorlike's tests and examples, with no mongod needed.

The server is mongoeco's wire-protocol server (``mongoeco[wire]``, pinned at
:data:`MONGOECO_VERSION`), run as a separate process bound to 127.0.0.1.
mongoeco needs Python >= 3.13, so it lives in its own venv, built once and
cached by :func:`ensure_server_venv`; the driver itself can run on any
Python it supports.

Typical use::

    with server_uri() as uri:          # MOTORLIKE_TEST_URI, or an embedded server
        client = AsyncIOMotorClient(uri)

From a shell: ``python -m motorlike.testserver`` prints a URI and serves until
Ctrl-C (``--port 27017``: where the documentation's examples connect);
``python -m motorlike.testserver --probe`` prints what the server can do.

Environment:

``MOTORLIKE_TEST_URI``
    use this server instead of starting one (a real mongod, say).
``MOTORLIKE_SERVER_PYTHON``
    the Python >= 3.13 that builds the server venv.
``MOTORLIKE_SERVER_VENV``
    where the server venv lives (default
    ``~/.cache/motorlike/mongoeco-<version>-py<X.Y>``).

Only the standard library is imported at module level: the driver's test
suite and the examples import this module. PyMongo is imported only inside
the functions that talk to a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterator

# Part of this module's API, in a file of its own.
from motorlike._testserver_probe import probe_capabilities

__all__ = [
    "MONGOECO_VERSION",
    "EmbeddedServer",
    "PortInUseError",
    "ensure_server_venv",
    "find_server_python",
    "probe_capabilities",
    "server_uri",
    "test_server_uri",
]

MONGOECO_VERSION = "4.11.0"

# What the server venv gets. PyMongo is pinned too because mongoeco uses its
# bson package internally: a new PyMongo must not change the server under us.
SERVER_REQUIREMENTS = (f"mongoeco[wire]=={MONGOECO_VERSION}", "pymongo==4.20.0")

MINIMUM_SERVER_PYTHON = (3, 13)

TEST_URI_ENV = "MOTORLIKE_TEST_URI"
SERVER_PYTHON_ENV = "MOTORLIKE_SERVER_PYTHON"
SERVER_VENV_ENV = "MOTORLIKE_SERVER_VENV"

# Written last by ensure_server_venv: a venv without it is unfinished.
READY_MARKER_NAME = ".motorlike-server-ready"

LAUNCHER_PATH = pathlib.Path(__file__).with_name("_mongoeco_launcher.py")

DEFAULT_STARTUP_TIMEOUT = 60.0

#: The launcher's exit code when the port asked for is taken (its
#: PORT_IN_USE_EXIT_CODE: the launcher cannot be imported from here).
_LAUNCHER_PORT_IN_USE = 98
PIP_INSTALL_TIMEOUT = 1800.0


# --------------------------------------------------------------------------
# The server venv
# --------------------------------------------------------------------------


def _python_version(executable: str) -> tuple[int, int] | None:
    """The (major, minor) of an interpreter, or None if it does not run.

    Run rather than trusted by name: a pyenv shim on PATH may exist for a
    version that pyenv does not currently select.
    """
    try:
        completed = subprocess.run(
            [executable, "-I", "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    try:
        major, minor = (int(part) for part in completed.stdout.split())
    except ValueError:
        return None
    return major, minor


def _pyenv_root() -> pathlib.Path | None:
    if os.environ.get("PYENV_ROOT"):
        return pathlib.Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            completed = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
            if completed.returncode == 0 and completed.stdout.strip():
                return pathlib.Path(completed.stdout.strip())
    default_root = pathlib.Path.home() / ".pyenv"
    return default_root if default_root.is_dir() else None


def _pyenv_pythons() -> list[str]:
    root = _pyenv_root()
    if root is None:
        return []

    def version_key(path: pathlib.Path) -> tuple[int, ...]:
        return tuple(int(number) for number in re.findall(r"\d+", path.parents[1].name))

    found = sorted(root.glob("versions/3.1[3-9]*/bin/python"), key=version_key)
    return [str(path) for path in found]


def find_server_python() -> tuple[str, tuple[int, int]]:
    """A Python >= 3.13 to build the server venv with, and its version.

    Looked for in order: ``MOTORLIKE_SERVER_PYTHON``; this interpreter;
    ``python3.13`` ... ``python3.19`` and ``python3`` on PATH;
    ``$(pyenv root)/versions/3.1[3-9]*/bin/python``.
    """
    explicit = os.environ.get(SERVER_PYTHON_ENV)
    if explicit:
        version = _python_version(explicit)
        if version is None or version < MINIMUM_SERVER_PYTHON:
            raise RuntimeError(
                f"{SERVER_PYTHON_ENV}={explicit!r} is not a working Python >= 3.13 "
                f"(found version {version}); mongoeco {MONGOECO_VERSION} needs 3.13+"
            )
        return explicit, version

    names = [f"python3.{minor}" for minor in range(MINIMUM_SERVER_PYTHON[1], 20)] + ["python3"]
    candidates = [sys.executable] + [path for path in map(shutil.which, names) if path]
    candidates += _pyenv_pythons()
    for candidate in candidates:
        version = _python_version(candidate)
        if version is not None and version >= MINIMUM_SERVER_PYTHON:
            return candidate, version
    tried = ", ".join(candidates) or "none found"
    raise RuntimeError(
        "The embedded test server (mongoeco) needs Python >= 3.13, and none was found "
        f"(tried: {tried}). Install one (e.g. `pyenv install 3.13`), point "
        f"{SERVER_PYTHON_ENV} at it, or set {TEST_URI_ENV} to use an existing MongoDB server."
    )


def _venv_python(venv: pathlib.Path) -> pathlib.Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _default_venv_dir(python_version: tuple[int, int]) -> pathlib.Path:
    cache_home = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    major, minor = python_version
    return cache_home / "motorlike" / f"mongoeco-{MONGOECO_VERSION}-py{major}.{minor}"


def _expected_marker_text() -> str:
    # Listing the requirements in the marker makes a change of pin rebuild
    # an explicitly configured venv instead of silently reusing it.
    return json.dumps({"requirements": list(SERVER_REQUIREMENTS)}, sort_keys=True)


def _venv_is_ready(venv: pathlib.Path) -> bool:
    marker = venv / READY_MARKER_NAME
    try:
        marker_text = marker.read_text(encoding="utf-8")
    except OSError:
        return False
    return marker_text == _expected_marker_text() and _venv_python(venv).exists()


@contextlib.contextmanager
def exclusive_file_lock(lock_path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock (e.g. between pytest-xdist workers building one venv)."""
    try:
        import fcntl
    except ImportError:  # Windows: no fcntl; building concurrently is the user's risk there.
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _run_install_step(command: list[str], what: str) -> None:
    try:
        completed = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PIP_INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{what} timed out after {PIP_INSTALL_TIMEOUT:.0f}s: {' '.join(command)}") from error
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        raise RuntimeError(
            f"{what} failed (exit {completed.returncode}): {' '.join(command)}\n{output[-4000:]}"
        )


def _build_venv(venv: pathlib.Path, python: str) -> None:
    if venv.exists():
        # Leftover of an interrupted build (no ready marker): start afresh, but
        # never wipe a directory that is not a venv, whatever the env var says.
        if any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
            raise RuntimeError(f"{venv} exists and is not a venv; refusing to replace it")
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run_install_step(
        [python, "-m", "venv", str(venv)],
        f"creating the server venv with {python} (on Debian, python3.13-venv may be missing)",
    )
    _run_install_step(
        [
            str(_venv_python(venv)),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            *SERVER_REQUIREMENTS,
        ],
        f"installing {', '.join(SERVER_REQUIREMENTS)} into {venv}",
    )
    (venv / READY_MARKER_NAME).write_text(_expected_marker_text(), encoding="utf-8")


def ensure_server_venv() -> pathlib.Path:
    """The venv that runs the server, built on first use and cached.

    Idempotent: a ready marker is written only after pip succeeded, so an
    interrupted build is redone. A file lock next to the venv keeps two
    processes from building it at once; the second waits and reuses it.
    """
    explicit = os.environ.get(SERVER_VENV_ENV)
    if explicit:
        venv = pathlib.Path(explicit).expanduser()
        if _venv_is_ready(venv):
            return venv
        python = None
    else:
        python, python_version = find_server_python()
        venv = _default_venv_dir(python_version)
        if _venv_is_ready(venv):
            return venv

    lock_path = venv.with_name(venv.name + ".lock")
    with exclusive_file_lock(lock_path):
        # Another process may have finished the build while we waited.
        if _venv_is_ready(venv):
            return venv
        if python is None:
            python, _ = find_server_python()
        _build_venv(venv, python)
    return venv


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------


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


def main(argv: list[str] | None = None) -> int:
    """``python -m motorlike.testserver``: see motorlike/_testserver_cli.py."""
    from motorlike._testserver_cli import main as command_line

    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
