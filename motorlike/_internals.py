"""PyMongo's private internals that motorlike relies on, all in one place.

Serving buffered documents without a thread hop needs a cursor's batch
buffer; GridFS reads need GridOut's. ``test_pymongo_internals`` checks that
each of these still exists on the installed PyMongo, so a PyMongo release
that moves one fails loudly there, not deep inside a read.
"""

from __future__ import annotations

from typing import Any

from pymongo import CursorType, _csot



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


# GridFS: a GridOut's file document, chunk iterator and chunks collection.


def _file_document(grid_out: Any) -> Any:
    """The files-collection document of a PyMongo GridOut, or None before open()."""
    return grid_out._file


def _chunk_iterator(grid_out: Any) -> Any:
    """The GridOut's chunk iterator (it holds the server cursor), or None."""
    return grid_out._chunk_iter


def _set_chunk_iterator(grid_out: Any, iterator: Any) -> None:
    grid_out._chunk_iter = iterator


def _detach_chunk_iterator(grid_out: Any) -> Any:
    """Take the GridOut's chunk iterator away from it.

    The GridOut makes a new one when next read. Closing the old one may send
    killCursors, which is blocking I/O: the caller closes it on a worker.
    """
    iterator = grid_out._chunk_iter
    grid_out._chunk_iter = None
    return iterator


def _chunk_reader(grid_out: Any) -> Any:
    """The chunks collection the GridOut reads from (motorlike swaps in a windowed one)."""
    return grid_out._chunks


def _set_chunk_reader(grid_out: Any, reader: Any) -> None:
    grid_out._chunks = reader


def _caller_timeout() -> float | None:
    """The ``pymongo.timeout()`` block the current context runs in, if any."""
    return _csot.get_timeout()
