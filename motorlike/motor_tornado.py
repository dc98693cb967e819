"""motorlike's classes for Tornado: ``MotorClient`` and its family."""

from motorlike import core, motor_gridfs
from motorlike._tornado_names import TORNADO_NAMES
from motorlike.frameworks import tornado as _framework
from motorlike.metaprogramming import generated_class


def _generate(declaration: type) -> type:
    return generated_class(declaration, _framework)


MotorClient = _generate(core.AgnosticClient)
MotorClientSession = _generate(core.AgnosticClientSession)
MotorDatabase = _generate(core.AgnosticDatabase)
MotorCollection = _generate(core.AgnosticCollection)
MotorCursor = _generate(core.AgnosticCursor)
MotorRawBatchCursor = _generate(core.AgnosticRawBatchCursor)
MotorCommandCursor = _generate(core.AgnosticCommandCursor)
MotorRawBatchCommandCursor = _generate(core.AgnosticRawBatchCommandCursor)
MotorLatentCommandCursor = _generate(core.AgnosticLatentCommandCursor)
MotorChangeStream = _generate(core.AgnosticChangeStream)
MotorClientEncryption = _generate(core.AgnosticClientEncryption)
MotorGridFSBucket = _generate(motor_gridfs.AgnosticGridFSBucket)
MotorGridIn = _generate(motor_gridfs.AgnosticGridIn)
MotorGridOut = _generate(motor_gridfs.AgnosticGridOut)
MotorGridOutCursor = _generate(motor_gridfs.AgnosticGridOutCursor)

# The same names the package root offers (motorlike.MotorClient ...).
__all__ = list(TORNADO_NAMES)
