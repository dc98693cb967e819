"""Helpers Motor 2.x documented that PyMongo 4 (and so Motor 3) removed.

Each runs on a worker with the PyMongo object as first argument and is
exposed as a deprecated coroutine (see ``AsyncCall(run=...)`` in
:mod:`motorlike.core`). They are thin: each sends the server command the old
helper sent. Decisions, including what was left out, are in doc/legacy.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson.son import SON

#: Profiling levels of the old helpers (PyMongo 3's OFF, SLOW_ONLY, ALL).
OFF, SLOW_ONLY, ALL = 0, 1, 2


#: Methods PyMongo 4 (and Motor 2 or 3) removed and motorlike leaves out, with
#: what replaces each (doc/legacy.md has the reasons). Calling one raises a
#: TypeError that names the replacement.
REMOVED = {
    "insert": "insert_one() or insert_many()",
    "save": "replace_one({'_id': ...}, document, upsert=True) or insert_one()",
    "update": "update_one(), update_many() or replace_one()",
    "remove": "delete_one() or delete_many()",
    "find_and_modify": "find_one_and_update(), find_one_and_replace() or find_one_and_delete()",
    "count": "count_documents() or estimated_document_count()",
    "ensure_index": "create_index()",
    "group": "aggregate() with a $group stage",
    "parallel_scan": "one find(), or find() on ranges of _id",
    "eval": "aggregate() or application code",
    "add_user": "command('createUser', ...)",
    "remove_user": "command('dropUser', ...)",
    "authenticate": "username= and password= (or the URI) on the client",
    "logout": "a client without credentials",
    "database_names": "list_database_names()",
    "collection_names": "list_collection_names()",
    "is_locked": "(await client.admin.current_op()).get('fsyncLock')",
}


def removed_hint(name: str) -> str:
    """A sentence naming the replacement of a method PyMongo 4 removed, or ''."""
    instead = REMOVED.get(name)
    if instead is None:
        return ""
    return f" PyMongo 4 removed {name}(): use {instead} instead (see motorlike's doc/legacy.md)."


def _deprecation(old: str, instead: str) -> str:
    return f"{old} was removed from PyMongo 4 and Motor 3; use {instead} instead"


def fsync(client: Any, **kwargs: Any) -> dict:
    """Flush pending writes to disk; ``lock=True`` also blocks writes."""
    session = kwargs.pop("session", None)
    return client.admin.command("fsync", session=session, **kwargs)


def unlock(client: Any, session: Any = None) -> None:
    """Undo ``fsync(lock=True)``."""
    client.admin.command("fsyncUnlock", session=session)


def current_op(database: Any, include_all: bool = False, session: Any = None) -> dict:
    """Operations in progress, as the ``currentOp`` command reports them."""
    command = SON([("currentOp", 1), ("$all", include_all)])
    return database.client.admin.command(command, session=session)


def profiling_level(database: Any, session: Any = None) -> int:
    """The database's profiling level: OFF (0), SLOW_ONLY (1) or ALL (2)."""
    return database.command("profile", -1, session=session)["was"]


def set_profiling_level(database: Any, level: int, slow_ms: int | None = None, session: Any = None) -> None:
    """Set the profiling level, and optionally the slow-operation threshold."""
    if not isinstance(level, int) or isinstance(level, bool) or level not in (OFF, SLOW_ONLY, ALL):
        raise ValueError("level must be one of (OFF, SLOW_ONLY, ALL)")
    if slow_ms is not None and (not isinstance(slow_ms, int) or isinstance(slow_ms, bool)):
        raise TypeError("slow_ms must be an integer")
    options = {} if slow_ms is None else {"slowms": slow_ms}
    database.command("profile", level, session=session, **options)


def profiling_info(database: Any, session: Any = None) -> list:
    """The documents of the database's ``system.profile`` collection."""
    return list(database["system.profile"].find(session=session))


def _map_reduce_command(collection: Any, map: Any, reduce: Any, out: Any, kwargs: dict) -> SON:
    command = SON([("mapReduce", collection.name), ("map", map), ("reduce", reduce), ("out", out)])
    command.update(kwargs)
    return command


def map_reduce(
    collection: Any, map: Any, reduce: Any, out: Any, full_response: bool = False, session: Any = None, **kwargs: Any
) -> Any:
    """Run mapReduce into ``out``; returns the output collection (or the full response)."""
    if not isinstance(out, (str, Mapping)):
        raise TypeError("'out' must be an instance of str or a mapping")
    response = collection.database.command(_map_reduce_command(collection, map, reduce, out, kwargs), session=session)
    result = response.get("result")
    if full_response or not result:
        return response
    if isinstance(result, Mapping):
        return collection.database.client[result["db"]][result["collection"]]
    return collection.database[result]


def inline_map_reduce(
    collection: Any, map: Any, reduce: Any, full_response: bool = False, session: Any = None, **kwargs: Any
) -> Any:
    """Run mapReduce with inline output; returns the result documents."""
    command = _map_reduce_command(collection, map, reduce, {"inline": 1}, kwargs)
    response = collection.database.command(command, session=session)
    return response if full_response else response.get("results")


def reindex(collection: Any, session: Any = None, **kwargs: Any) -> dict:
    """Rebuild the collection's indexes (standalone servers only, since MongoDB 6)."""
    return collection.database.command(SON([("reIndex", collection.name)]), session=session, **kwargs)


DEPRECATIONS = {
    "fsync": _deprecation("fsync()", "client.admin.command('fsync')"),
    "unlock": _deprecation("unlock()", "client.admin.command('fsyncUnlock')"),
    "current_op": _deprecation("current_op()", "an aggregate() with a $currentOp stage"),
    "profiling_level": _deprecation("profiling_level()", "db.command('profile', -1)"),
    "set_profiling_level": _deprecation("set_profiling_level()", "db.command('profile', level)"),
    "profiling_info": _deprecation("profiling_info()", "db['system.profile'].find()"),
    "map_reduce": _deprecation("map_reduce()", "aggregate()"),
    "inline_map_reduce": _deprecation("inline_map_reduce()", "aggregate()"),
    "reindex": _deprecation("reindex()", "drop_index() and create_index()"),
}
