"""Synchronous PyMongo look-alike over motorlike, to run PyMongo's own tests.

``synchro.MongoClient`` behaves like :class:`pymongo.MongoClient`, but every
operation goes through motorlike: each coroutine of a motorlike object is
run to completion on an event loop synchro owns (a thread of its own), and
returned motorlike objects are wrapped back. Cursors, change streams,
sessions and GridFS behave as PyMongo's do.

The framework underneath is asyncio (``AsyncIOMotorClient`` ...) or Tornado
(``MotorClient`` ...), chosen by ``SYNCHRO_FRAMEWORK`` (default asyncio), or
explicitly with :func:`api`::

    import synchro
    client = synchro.MongoClient("mongodb://127.0.0.1:27017")   # SYNCHRO_FRAMEWORK
    tornado_client = synchro.api("tornado").classes()["MongoClient"](...)

:mod:`synchro.importer` makes ``import pymongo`` / ``import gridfs`` in a
chosen directory of test modules yield synchro's versions; ``python -m
synchro`` runs PyMongo's own test suite that way (see doc/synchro.md).
"""

from __future__ import annotations

import os
from typing import Any

from synchro._api import Synchro, SynchroAPI, api  # noqa: F401
from synchro._loop import FRAMEWORKS

FRAMEWORK_ENV = "SYNCHRO_FRAMEWORK"


def selected_framework() -> str:
    """The framework named by ``SYNCHRO_FRAMEWORK`` (default ``asyncio``)."""
    framework = os.environ.get(FRAMEWORK_ENV, "").strip().lower() or "asyncio"
    if framework not in FRAMEWORKS:
        raise ValueError(f"{FRAMEWORK_ENV} must be one of {FRAMEWORKS}, not {framework!r}")
    return framework


def default_api() -> SynchroAPI:
    """The :class:`SynchroAPI` of the framework ``SYNCHRO_FRAMEWORK`` selects."""
    return api(selected_framework())


def _load_gridfs_declarations() -> None:
    # motor_gridfs registers GridFS declarations when imported; optional.
    try:
        import motorlike.motor_gridfs  # noqa: F401
    except ImportError:  # pragma: no cover - older motorlike without GridFS
        pass


_load_gridfs_declarations()


def __getattr__(name: str) -> Any:
    # synchro.MongoClient, synchro.Collection ... for the selected framework.
    if name.startswith("_"):
        raise AttributeError(f"module 'synchro' has no attribute {name!r}")
    classes = default_api().classes()
    if name in classes:
        return classes[name]
    raise AttributeError(f"module 'synchro' has no attribute {name!r}")


__all__ = ["FRAMEWORKS", "FRAMEWORK_ENV", "Synchro", "SynchroAPI", "api", "default_api", "selected_framework"]
