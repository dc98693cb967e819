"""motorlike: Motor's asynchronous MongoDB API for asyncio and Tornado, on current PyMongo.

Use :mod:`motorlike.motor_asyncio` (``AsyncIOMotorClient``) or
:mod:`motorlike.motor_tornado` (``MotorClient``). To run code written for
Motor unchanged, call :func:`motorlike.install_motor_alias` once, before
that code imports ``motor``.
"""

from motorlike._version import get_version_string, version, version_tuple
from motorlike.alias import install_motor_alias

__all__ = ["get_version_string", "install_motor_alias", "version", "version_tuple"]
