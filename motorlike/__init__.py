"""motorlike: Motor's asynchronous MongoDB API for asyncio and Tornado, on current PyMongo.

Use :mod:`motorlike.motor_asyncio` (``AsyncIOMotorClient``) or
:mod:`motorlike.motor_tornado` (``MotorClient``). To run code written for
Motor unchanged, call :func:`motorlike.install_motor_alias` once, before
that code imports ``motor``.

As Motor does, the package root also offers the Tornado classes
(``motorlike.MotorClient``, ``from motor import MotorGridFSBucket`` under
the alias) when Tornado is installed. They are imported on first use, so an
asyncio program never imports Tornado.
"""

from typing import Any

from motorlike._tornado_names import TORNADO_NAMES as _TORNADO_NAMES
from motorlike._version import get_version_string, version, version_tuple
from motorlike.alias import install_motor_alias


__all__ = ["get_version_string", "install_motor_alias", "version", "version_tuple"]


def __getattr__(name: str) -> Any:
    if name not in _TORNADO_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from motorlike import motor_tornado
    except ImportError as exc:
        if exc.name != "tornado":
            raise
        raise AttributeError(
            f"{name} is a Tornado class and Tornado is not installed: pip install 'motorlike[tornado]' "
            "(asyncio programs use motorlike.motor_asyncio.AsyncIOMotor* instead)"
        ) from exc
    value = getattr(motor_tornado, name)
    globals()[name] = value  # found directly next time
    return value


def __dir__() -> list:
    return sorted({*globals(), *_TORNADO_NAMES})
