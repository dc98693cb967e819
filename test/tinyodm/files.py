"""tinyodm's GridFS classes: Motor's, with their own ``__init__`` and ``wrap()``."""

from gridfs import GridFSBucket, GridIn, GridOut, GridOutCursor
from motor.metaprogramming import create_class_with_framework
from motor.motor_gridfs import AgnosticGridFSBucket, AgnosticGridIn, AgnosticGridOut, AgnosticGridOutCursor

from test.tinyodm.core import OdmCollection, OdmDatabase


def _class(declaration, framework):
    return create_class_with_framework(declaration, framework, __name__)


def _check_root(obj, root_collection):
    if not isinstance(root_collection, _class(OdmCollection, obj._framework)):
        raise TypeError(f"an OdmCollection is needed, not {root_collection!r}")


class OdmGridIn(AgnosticGridIn):
    __motor_class_name__ = "OdmGridIn"

    def __init__(self, root_collection, delegate=None, **kwargs):
        # Motor's own GridIn does this, without calling a parent __init__.
        _check_root(self, root_collection)
        self.io_loop = root_collection.get_io_loop()
        self.delegate = delegate or GridIn(root_collection.delegate, **kwargs)


class OdmGridOut(AgnosticGridOut):
    __motor_class_name__ = "OdmGridOut"

    def __init__(self, root_collection, file_id=None, file_document=None, delegate=None):
        _check_root(self, root_collection)
        self.delegate = delegate or GridOut(root_collection.delegate, file_id, file_document)
        self.io_loop = root_collection.get_io_loop()

    async def text(self, encoding="utf-8"):
        """The whole file, decoded."""
        return (await self.read()).decode(encoding)


class OdmBucket(AgnosticGridFSBucket):
    __motor_class_name__ = "OdmBucket"

    def __init__(self, database, bucket_name="fs"):
        if not isinstance(database, _class(OdmDatabase, database._framework)):
            raise TypeError(f"an OdmDatabase is needed, not {database!r}")
        self.io_loop = database.get_io_loop()
        self.collection = database[bucket_name]
        self.delegate = GridFSBucket(database.delegate, bucket_name)

    def wrap(self, obj):
        framework = self._framework
        if isinstance(obj, GridIn):
            return _class(OdmGridIn, framework)(self.collection, delegate=obj)
        if isinstance(obj, GridOut):
            return _class(OdmGridOut, framework)(self.collection, delegate=obj)
        if isinstance(obj, GridOutCursor):
            return _class(AgnosticGridOutCursor, framework)(cursor=obj, collection=self.collection)
        return obj


def open_bucket(database, bucket_name="fs"):
    """A bucket of ``database``'s framework (as mongomotor's GridFS proxy makes one)."""
    return _class(OdmBucket, database._framework)(database, bucket_name)
