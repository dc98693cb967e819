"""The names of the Tornado classes, apart from them: the package root offers them
(``motorlike.MotorClient``) without importing Tornado until one is used."""

#: The Tornado classes the package root offers (motor_tornado's __all__).
TORNADO_NAMES = (
    "MotorChangeStream",
    "MotorClient",
    "MotorClientEncryption",
    "MotorClientSession",
    "MotorCollection",
    "MotorCommandCursor",
    "MotorCursor",
    "MotorDatabase",
    "MotorGridFSBucket",
    "MotorGridIn",
    "MotorGridOut",
    "MotorGridOutCursor",
    "MotorLatentCommandCursor",
    "MotorRawBatchCommandCursor",
    "MotorRawBatchCursor",
)
