"""PyMongo's private internals that motorlike relies on, all in one place.

Serving buffered documents without a thread hop needs a cursor's batch
buffer; GridFS reads need GridOut's. ``test_pymongo_internals`` checks that
each of these still exists on the installed PyMongo, so a PyMongo release
that moves one fails loudly there, not deep inside a read.
"""

from __future__ import annotations

from typing import Any

from pymongo import CursorType



def _buffer(cursor: Any) -> Any:
    """The deque of documents a PyMongo cursor has received but not returned."""
    return cursor._data


def _set_buffer(cursor: Any, documents: Any) -> None:
    """Make ``documents`` (a deque) the PyMongo cursor's buffer."""
    cursor._data = documents


def _refill(cursor: Any) -> int:
    """Fetch the next batch (blocking) into an empty buffer; returns its length."""
    return cursor._refresh()


def _server_done(cursor: Any) -> bool:
    """Whether the server cursor is finished (exhausted, killed or failed)."""
    return bool(cursor._killed)


def _skip_of(cursor: Any) -> int:
    """The skip a find cursor has so far."""
    return int(cursor._skip)


def _is_tailable(cursor: Any) -> bool:
    return bool(getattr(cursor, "_query_flags", 0) & CursorType.TAILABLE)


def _is_empty(cursor: Any) -> bool:
    # A find cursor sliced to an empty range never queries the server.
    return bool(getattr(cursor, "_empty", False))
