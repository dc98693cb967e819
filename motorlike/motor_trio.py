"""motorlike's classes for Trio: ``TrioMotorClient`` and its family.

Generated from the same declarations as the asyncio and Tornado classes.
Every coroutine method returns a :class:`~motorlike.frameworks.trio.TrioFuture`
to ``await`` in a Trio task; a cancel scope that fires while it waits (as
``trio.move_on_after``) abandons the call the way asyncio cancellation
does: the PyMongo call finishes on its thread, its outcome is dropped, and
a cursor loses no document. A client is bound to no run: one serves any
number of ``trio.run()`` calls, in any number of threads.
"""

from motorlike import core, motor_gridfs
from motorlike.frameworks import trio as _framework
from motorlike.metaprogramming import generated_class


def _generate(declaration: type) -> type:
    return generated_class(declaration, _framework)


TrioMotorClient = _generate(core.AgnosticClient)
TrioMotorClientSession = _generate(core.AgnosticClientSession)
TrioMotorDatabase = _generate(core.AgnosticDatabase)
TrioMotorCollection = _generate(core.AgnosticCollection)
TrioMotorCursor = _generate(core.AgnosticCursor)
TrioMotorRawBatchCursor = _generate(core.AgnosticRawBatchCursor)
TrioMotorCommandCursor = _generate(core.AgnosticCommandCursor)
TrioMotorRawBatchCommandCursor = _generate(core.AgnosticRawBatchCommandCursor)
TrioMotorLatentCommandCursor = _generate(core.AgnosticLatentCommandCursor)
TrioMotorChangeStream = _generate(core.AgnosticChangeStream)
TrioMotorClientEncryption = _generate(core.AgnosticClientEncryption)
TrioMotorGridFSBucket = _generate(motor_gridfs.AgnosticGridFSBucket)
TrioMotorGridIn = _generate(motor_gridfs.AgnosticGridIn)
TrioMotorGridOut = _generate(motor_gridfs.AgnosticGridOut)
TrioMotorGridOutCursor = _generate(motor_gridfs.AgnosticGridOutCursor)

__all__ = [
    "TrioMotorChangeStream",
    "TrioMotorClient",
    "TrioMotorClientEncryption",
    "TrioMotorClientSession",
    "TrioMotorCollection",
    "TrioMotorCommandCursor",
    "TrioMotorCursor",
    "TrioMotorDatabase",
    "TrioMotorGridFSBucket",
    "TrioMotorGridIn",
    "TrioMotorGridOut",
    "TrioMotorGridOutCursor",
    "TrioMotorLatentCommandCursor",
    "TrioMotorRawBatchCommandCursor",
    "TrioMotorRawBatchCursor",
]
