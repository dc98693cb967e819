"""Framework-agnostic declarations of motorlike's classes, by their Motor names.

Each ``Agnostic*`` class names the PyMongo class it wraps and lists, attribute
by attribute, what it offers (see :mod:`motorlike.metaprogramming`). They are
never instantiated themselves: :mod:`motorlike.motor_asyncio` and
:mod:`motorlike.motor_tornado` generate the concrete classes from them.

The declarations live in one module per PyMongo family; this module gathers
them under the names Motor's ``motor.core`` has:

=========================  ===============================================
``motorlike._client``       client and database
``motorlike._collection``   collection
``motorlike._cursor``       find, raw-batch, command and latent cursors
``motorlike._change_stream``  change streams
``motorlike._session``      sessions and transactions
``motorlike._encryption``   client-side field level encryption
``motorlike.motor_gridfs``  GridFS
=========================  ===============================================
"""

from __future__ import annotations

from pymongo.typings import _DocumentType  # noqa: F401 - the stubs define their document type here

from motorlike._base import AgnosticBaseProperties
from motorlike._change_stream import AgnosticChangeStream
from motorlike._client import AgnosticClient
from motorlike._collection import AgnosticCollection
from motorlike._database import AgnosticDatabase
from motorlike._command_cursor import (
    AgnosticCommandCursor,
    AgnosticLatentCommandCursor,
    AgnosticRawBatchCommandCursor,
)
from motorlike._cursor import AgnosticBaseCursor, AgnosticCursor, AgnosticRawBatchCursor
from motorlike._encryption import AgnosticClientEncryption
from motorlike._bridge import BackgroundCall, WorkerThreadsExhausted
from motorlike._session import AgnosticClientSession, _BoundSession, _MotorTransactionContext  # noqa: F401 - Motor's names
from motorlike.metaprogramming import AgnosticBase, coroutine_annotation

__all__ = [
    "AgnosticBase",
    "AgnosticBaseCursor",
    "AgnosticBaseProperties",
    "AgnosticChangeStream",
    "AgnosticClient",
    "AgnosticClientEncryption",
    "AgnosticClientSession",
    "AgnosticCollection",
    "AgnosticCommandCursor",
    "AgnosticCursor",
    "AgnosticDatabase",
    "AgnosticLatentCommandCursor",
    "AgnosticRawBatchCommandCursor",
    "AgnosticRawBatchCursor",
    "BackgroundCall",
    "WorkerThreadsExhausted",
    "coroutine_annotation",
]

# Their public home is here, as in Motor's ``motor.core``: help(), reprs,
# pickles, the stubs and the API reference name them ``motorlike.core.X``,
# whichever family module defines them.
for _declaration in (
    AgnosticBaseProperties,
    AgnosticChangeStream,
    AgnosticClient,
    AgnosticDatabase,
    AgnosticCollection,
    AgnosticBaseCursor,
    AgnosticCommandCursor,
    AgnosticCursor,
    AgnosticLatentCommandCursor,
    AgnosticRawBatchCommandCursor,
    AgnosticRawBatchCursor,
    AgnosticClientEncryption,
    AgnosticClientSession,
    _MotorTransactionContext,
    _BoundSession,
):
    _declaration.__module__ = __name__
del _declaration
