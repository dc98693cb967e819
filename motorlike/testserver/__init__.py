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

Only the standard library is imported when this package is: the driver's
test suite and the examples import it. PyMongo is imported only inside the
functions that talk to a server.

Inside: ``_venv`` (the server's Python and venv), ``_server`` (its process),
``_probe`` (what a server can do), ``_mongoeco_launcher`` (the script the
server venv runs), ``__main__`` (the command line).
"""

from motorlike.testserver._probe import probe_capabilities
from motorlike.testserver._server import (
    DEFAULT_STARTUP_TIMEOUT,
    LAUNCHER_PATH,
    EmbeddedServer,
    PortInUseError,
    server_uri,
    test_server_uri,
)
from motorlike.testserver._venv import (
    MINIMUM_SERVER_PYTHON,
    MONGOECO_VERSION,
    READY_MARKER_NAME,
    SERVER_PYTHON_ENV,
    SERVER_REQUIREMENTS,
    SERVER_VENV_ENV,
    TEST_URI_ENV,
    ensure_server_venv,
    exclusive_file_lock,
    find_server_python,
)

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
