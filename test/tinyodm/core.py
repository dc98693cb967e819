"""tinyodm's client, database, collection and cursor, subclassing Motor's."""

import collections
import types

from motor.core import AgnosticBase, AgnosticClient, AgnosticCollection, AgnosticCursor, AgnosticDatabase
from motor.frameworks import asyncio as asyncio_framework
from motor.frameworks import tornado as tornado_framework
from motor.metaprogramming import create_class_with_framework
from pymongo.collection import Collection
from pymongo.database import Database

from test.tinyodm.factories import Blocking, Counted, FrameworkName
from test.tinyodm.models import Model


def _class(declaration, framework):
    return create_class_with_framework(declaration, framework, __name__)


class OdmCursor(AgnosticCursor):
    __motor_class_name__ = "OdmCursor"

    def __init__(self, cursor, collection):
        super().__init__(cursor, collection)
        self.model = collection.model

    async def models(self, length=None):
        """Up to ``length`` documents (all if None), as the collection's model."""
        return [self.model.from_document(document) for document in await self.to_list(length)]


class OdmCollection(AgnosticCollection):
    __motor_class_name__ = "OdmCollection"

    count_documents = Counted()
    insert_one = Counted()
    count_documents_blocking = Blocking("count_documents")
    framework_name = FrameworkName()

    def __init__(self, database, name, _delegate=None, model=Model):
        # As Motor-era subclasses do: Motor's __init__ is skipped, and the
        # delegate and the database are set here.
        if not isinstance(database, _class(OdmDatabase, self._framework)):
            raise TypeError(f"an OdmDatabase is needed, not {database!r}")
        delegate = _delegate if _delegate is not None else Collection(database.delegate, name)
        AgnosticBase.__init__(self, delegate)
        self.database = database
        self.model = model
        self.calls = collections.Counter()

    def __getattr__(self, name):
        if name.startswith("_"):
            # PyMongo's private attributes, for its methods bound to this
            # object (Blocking), its private methods bound to this object
            # too: mongomotor forwards them the same way.
            value = getattr(self.delegate, name)
            if isinstance(value, types.MethodType) and value.__self__ is self.delegate:
                return types.MethodType(value.__func__, self)
            return value
        return self[name]

    def __getitem__(self, name):
        return type(self)(self.database, f"{self.name}.{name}", model=self.model)

    def find(self, *args, **kwargs):
        return _class(OdmCursor, self._framework)(self.delegate.find(*args, **kwargs), self)

    def wrap(self, obj):
        # with_options() and the like: a collection of this class, same model.
        if isinstance(obj, Collection):
            return type(self)(self.database, obj.name, _delegate=obj, model=self.model)
        return super().wrap(obj)

    async def save(self, instance):
        document = instance.to_document()
        result = await self.insert_one(document)
        instance._id = result.inserted_id
        return instance


class OdmDatabase(AgnosticDatabase):
    __motor_class_name__ = "OdmDatabase"

    def __init__(self, client, name, _delegate=None):
        self._client = client  # Motor's name for it
        delegate = _delegate if _delegate is not None else Database(client.delegate, name)
        super(AgnosticDatabase, self).__init__(delegate)

    def __getitem__(self, name):
        return _class(OdmCollection, self._framework)(self, name)

    def wrap(self, obj):
        # get_collection(), create_collection(): this library's collections.
        if isinstance(obj, Collection):
            return _class(OdmCollection, self._framework)(self, obj.name, _delegate=obj)
        return super().wrap(obj)

    def collection_for(self, model):
        """The collection ``model`` is stored in."""
        return _class(OdmCollection, self._framework)(self, model.collection_name, model=model)


class OdmClient(AgnosticClient):
    __motor_class_name__ = "OdmClient"

    def __getitem__(self, name):
        return _class(OdmDatabase, self._framework)(self, name)

    def wrap(self, obj):
        if isinstance(obj, Database):
            return _class(OdmDatabase, self._framework)(self, obj.name, _delegate=obj)
        return super().wrap(obj)


#: The client class for each framework, made once (as mongomotor's ``CLIENTS``).
CLIENTS = {
    "asyncio": _class(OdmClient, asyncio_framework),
    "tornado": _class(OdmClient, tornado_framework),
}


def connect(uri, async_framework="asyncio", **kwargs):
    """A client of ``async_framework`` ('asyncio' or 'tornado') for ``uri``."""
    return CLIENTS[async_framework](uri, **kwargs)
