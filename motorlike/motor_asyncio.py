"""motorlike's classes for asyncio: ``AsyncIOMotorClient`` and its family."""

from motorlike import core, motor_gridfs
from motorlike.frameworks import asyncio as _framework
from motorlike.metaprogramming import generated_class


def _generate(declaration: type) -> type:
    return generated_class(declaration, _framework)


AsyncIOMotorClient = _generate(core.AgnosticClient)
AsyncIOMotorClientSession = _generate(core.AgnosticClientSession)
AsyncIOMotorDatabase = _generate(core.AgnosticDatabase)
AsyncIOMotorCollection = _generate(core.AgnosticCollection)
AsyncIOMotorCursor = _generate(core.AgnosticCursor)
AsyncIOMotorRawBatchCursor = _generate(core.AgnosticRawBatchCursor)
AsyncIOMotorCommandCursor = _generate(core.AgnosticCommandCursor)
AsyncIOMotorRawBatchCommandCursor = _generate(core.AgnosticRawBatchCommandCursor)
AsyncIOMotorLatentCommandCursor = _generate(core.AgnosticLatentCommandCursor)
AsyncIOMotorChangeStream = _generate(core.AgnosticChangeStream)
AsyncIOMotorClientEncryption = _generate(core.AgnosticClientEncryption)
AsyncIOMotorGridFSBucket = _generate(motor_gridfs.AgnosticGridFSBucket)
AsyncIOMotorGridIn = _generate(motor_gridfs.AgnosticGridIn)
AsyncIOMotorGridOut = _generate(motor_gridfs.AgnosticGridOut)
AsyncIOMotorGridOutCursor = _generate(motor_gridfs.AgnosticGridOutCursor)

__all__ = [
    "AsyncIOMotorChangeStream",
    "AsyncIOMotorClient",
    "AsyncIOMotorClientEncryption",
    "AsyncIOMotorClientSession",
    "AsyncIOMotorCollection",
    "AsyncIOMotorCommandCursor",
    "AsyncIOMotorCursor",
    "AsyncIOMotorDatabase",
    "AsyncIOMotorGridFSBucket",
    "AsyncIOMotorGridIn",
    "AsyncIOMotorGridOut",
    "AsyncIOMotorGridOutCursor",
    "AsyncIOMotorLatentCommandCursor",
    "AsyncIOMotorRawBatchCommandCursor",
    "AsyncIOMotorRawBatchCursor",
]
