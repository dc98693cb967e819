"""tinyodm: a small object-document mapper built on Motor's internals.

Written the way libraries that extend Motor are (mongomotor is the model):
it imports ``motor``, subclasses Motor's agnostic classes (client, database,
collection, cursor, GridFS bucket, GridIn, GridOut), declares members with
attribute factories of its own, builds its classes with
``motor.metaprogramming.create_class_with_framework`` for asyncio or
Tornado, and overrides ``wrap()`` so that what PyMongo returns comes back
as its own classes. Its ``__init__`` methods set ``delegate``, ``database``,
``collection`` and ``io_loop`` themselves, as Motor-era subclasses do.

It is motorlike's test of that protocol (``test/test_extending.py``, see
doc/extending.md): import it with ``motorlike.install_motor_alias()`` in
effect, so that ``motor`` is motorlike.
"""

from test.tinyodm.core import OdmClient, OdmCollection, OdmCursor, OdmDatabase, connect
from test.tinyodm.factories import Blocking, Counted, FrameworkName
from test.tinyodm.files import OdmBucket, OdmGridIn, OdmGridOut, open_bucket
from test.tinyodm.models import Model

__all__ = [
    "Blocking",
    "Counted",
    "FrameworkName",
    "Model",
    "OdmBucket",
    "OdmClient",
    "OdmCollection",
    "OdmCursor",
    "OdmDatabase",
    "OdmGridIn",
    "OdmGridOut",
    "connect",
    "open_bucket",
]
