"""Client-side field level encryption (PyMongo's ``ClientEncryption``).
"""

from __future__ import annotations

from typing import Any, Mapping

from motorlike._client import AgnosticClient
from motorlike._collection import AgnosticCollection
from motorlike._database import AgnosticDatabase
from motorlike._cursor import AgnosticCursor
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    unwrap_arguments,
    wraps_pymongo,
)


# ---------------------------------------------------------------------------
# Client-side field level encryption

try:
    from pymongo.synchronous.encryption import ClientEncryption as _ClientEncryption
except ImportError:  # pragma: no cover - PyMongo always ships the module
    _ClientEncryption = None


@wraps_pymongo(_ClientEncryption)
class AgnosticClientEncryption(AgnosticBase):
    """Explicit encryption and key management (needs ``pymongo[encryption]``)."""

    __motor_class_name__ = "MotorClientEncryption"
    __hash__ = None  # type: ignore[assignment]

    add_key_alt_name = AsyncCall()
    close = AsyncCall()
    create_data_key = AsyncCall()
    decrypt = AsyncCall()
    delete_key = AsyncCall()
    encrypt = AsyncCall()
    encrypt_expression = AsyncCall()
    get_key = AsyncCall()
    get_key_by_alt_name = AsyncCall()
    remove_key_alt_name = AsyncCall()
    rewrap_many_data_key = AsyncCall()

    def __init__(
        self,
        kms_providers: Mapping[str, Any],
        key_vault_namespace: str,
        key_vault_client: AgnosticClient,
        codec_options: Any,
        io_loop: Any = None,
        kms_tls_options: Mapping[str, Any] | None = None,
        key_expiration_ms: int | None = None,
    ) -> None:
        if io_loop is not None:
            self._framework.check_event_loop(io_loop)
        if not isinstance(key_vault_client, AgnosticClient):
            raise TypeError(f"key_vault_client must be a motorlike client, not {type(key_vault_client).__name__}")
        self._io_loop = io_loop
        self._key_vault_client = key_vault_client
        options: dict[str, Any] = {"kms_tls_options": kms_tls_options}
        if key_expiration_ms is not None:
            options["key_expiration_ms"] = key_expiration_ms
        super().__init__(
            _ClientEncryption(kms_providers, key_vault_namespace, key_vault_client.delegate, codec_options, **options)
        )
        self._key_vault_namespace = key_vault_namespace

    def get_io_loop(self) -> Any:
        if self._io_loop is not None:
            return self._io_loop
        return self._key_vault_client.get_io_loop()

    @property
    def io_loop(self) -> Any:
        return self.get_io_loop()

    def _key_vault_collection(self) -> AgnosticCollection:
        database, collection = self._key_vault_namespace.split(".", 1)
        return self._key_vault_client[database][collection]

    async def get_keys(self) -> AgnosticCursor:
        """A cursor over all data keys in the key vault."""
        framework = self._framework
        cursor = await framework.submit(self.get_io_loop(), self.delegate.get_keys, (), {})
        return self._new(AgnosticCursor, cursor, self._key_vault_collection())

    async def create_encrypted_collection(
        self, database: AgnosticDatabase, name: str, encrypted_fields: Mapping[str, Any], **kwargs: Any
    ) -> tuple[AgnosticCollection, Mapping[str, Any]]:
        """Create a collection with encrypted fields; returns it and the final field map."""
        _, kwargs = unwrap_arguments((), kwargs)
        framework = self._framework
        collection, fields = await framework.submit(
            self.get_io_loop(),
            self.delegate.create_encrypted_collection,
            (database.delegate, name, encrypted_fields),
            kwargs,
        )
        return database.wrap(collection), fields

    async def __aenter__(self) -> AgnosticClientEncryption:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()
