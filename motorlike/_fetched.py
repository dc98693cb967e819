"""What a cursor's worker calls fetched and its readers have not taken yet.

The one mechanism behind every cursor read; motorlike._cursor's cursors use it.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from motorlike._internals import _buffer, _is_empty, _refill, _server_done, _set_buffer

_log = logging.getLogger("motorlike")


# How documents travel (the one mechanism behind every cursor read):
#
# * Only a call on the cursor's strand touches the PyMongo cursor (see
#   motorlike._strand): calls run one at a time, in the order they were
#   made, whatever loops and threads its readers run on.
# * That worker moves what it fetched into ``_Fetched.docs``, a deque owned
#   by motorlike, appending on the right. Readers take documents from the
#   left, on their own loop, one atomic ``popleft`` at a time. So a document
#   is handed out at most once, and in cursor order.
# * A reader takes documents only once its worker call is done and while it
#   is still waiting. A reader that gave up (cancelled, timed out, its loop
#   closed) takes nothing: what its call fetched stays for the next reader,
#   on whatever loop that runs.
# * ``exhausted`` is set after the last append; readers read it *before*
#   looking at ``docs``, so "exhausted and nothing buffered" means done.
# * ``async for`` may start one prefetch (a background call on the strand,
#   like any other) when half of what the last fetch left remains: it only
#   appends, so the rules above hold. Its error waits in ``_Fetched.error``
#   and is raised by the first read that needs more documents than are
#   buffered (``to_list``, ``__anext__``, ``try_next``, ``fetch_next``):
#   never traded for a short result or a reported end.
# * ``close()`` marks the cursor closed at once: reads made after it hand
#   out what is buffered and then end, without a worker call; a prefetch
#   still queued or running drops what it fetches (nobody asked for it),
#   and the server cursor is killed on the strand after the calls made
#   before it.


#: _fetch_on_worker's answer when an empty batch came and next() should ask again.
FETCH_AGAIN = "again"


class Fetched:
    """What the workers fetched from one PyMongo cursor and no reader took yet."""

    __slots__ = ("cursor", "docs", "exhausted", "handed_out", "low_water", "prefetching", "error", "closing")

    def __init__(self, cursor: Any) -> None:
        #: The PyMongo cursor; None until a latent cursor's command runs.
        self.cursor = cursor
        self.docs: collections.deque = collections.deque()
        self.exhausted = False
        #: Documents taken so far (a give-back checks nobody read on since).
        self.handed_out = 0
        #: ``async for`` starts fetching the next batch when no more than
        #: this many documents are left (half of what the last fetch left);
        #: -1 until a fetch has run, and for cursors that never prefetch.
        self.low_water = -1
        #: A prefetch is queued or running (set on the loop, cleared on the strand).
        self.prefetching = False
        #: What a prefetch raised; raised by the first read that needs more
        #: documents than are buffered.
        self.error: BaseException | None = None
        #: Set by close() and rewind() on the loop: a prefetch drops what it fetches.
        self.closing = False

    def ended(self) -> bool:
        """Nothing more will be fetched: the end came (and no prefetch error
        waits to be raised), or the cursor was closed. Read on the loop."""
        return (self.exhausted and self.error is None) or self.closing

    def take(self, length: int | None) -> list:
        """Up to ``length`` documents (all if None), in order, on the reader's loop."""
        docs = self.docs
        count = len(docs) if length is None else min(length, len(docs))
        taken: list = []
        append, popleft = taken.append, docs.popleft
        try:
            for _ in range(count):
                append(popleft())
        except IndexError:
            pass  # a reader on another thread took the rest
        self.handed_out += len(taken)
        return taken

    def give_back(self, taken: list, handed_out_then: int) -> None:
        """Put documents a reader took but never received back at the front."""
        if self.handed_out != handed_out_then:
            # Someone read on meanwhile: the next read gets these older
            # documents after newer ones. Rare (see doc/reliability.md); said.
            _log.warning(
                "motorlike: %d documents a cancelled to_list() had taken go back to the cursor "
                "after %d later ones were read",
                len(taken),
                self.handed_out - handed_out_then,
            )
        self.docs.extendleft(reversed(taken))
        self.handed_out -= len(taken)


def fetch(
    fetched: Fetched, cursor: Any, wanted: int | None, batches: int | None = None, prefetch: bool = False
) -> bool:
    """On the strand: buffer ``wanted`` documents (None: all).

    Stops early at the end of the cursor, or at an empty batch (a tailable
    cursor with nothing new), or after ``batches`` batches. Never loops on
    empty batches: that would hold the strand, and a thread, for as long as
    the server has nothing, however long ago the reader gave up. Returns
    whether documents are buffered. A ``prefetch`` drops its batch if the
    cursor was closed meanwhile.
    """
    docs = fetched.docs
    refills = 0
    if fetched.exhausted:
        return bool(docs)
    if _is_empty(cursor):
        fetched.exhausted = True
        return bool(docs)
    while True:
        data = _buffer(cursor)
        if prefetch and fetched.closing:
            return bool(docs)
        if data is not docs:
            # A batch PyMongo received: it joins ours, and ours becomes
            # PyMongo's buffer again, so that anything reading the PyMongo
            # cursor (its alive, PyMongo's own tests) sees the documents.
            docs.extend(data)
            _set_buffer(cursor, docs)
        if _server_done(cursor):
            fetched.exhausted = True
            return bool(docs)
        if (wanted is not None and len(docs) >= wanted) or (batches is not None and refills >= batches):
            return bool(docs)
        _set_buffer(cursor, collections.deque())  # PyMongo fetches only into an empty buffer
        refills += 1
        if not _refill(cursor) and not _server_done(cursor):
            # Another fetch may follow later: a tailable cursor, or a
            # server that answered an empty batch.
            _set_buffer(cursor, docs)
            return bool(docs)
