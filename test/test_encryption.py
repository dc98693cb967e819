"""ClientEncryption on both frameworks: explicit encryption with a local master key.

Encryption happens in the client (libmongocrypt, from ``pymongo[encryption]``);
the server only stores the key vault, so the embedded server does.
"""

from __future__ import annotations

import os
import uuid

import pytest

pytest.importorskip("pymongocrypt", reason="explicit encryption needs pymongo[encryption] (pymongocrypt)")

from bson.binary import Binary, UUID_SUBTYPE  # noqa: E402
from bson.codec_options import CodecOptions  # noqa: E402
from pymongo.encryption import Algorithm  # noqa: E402
from pymongo.errors import EncryptionError  # noqa: E402

from motorlike import motor_asyncio, motor_tornado  # noqa: E402

ENCRYPTION_CLASSES = {
    "asyncio": motor_asyncio.AsyncIOMotorClientEncryption,
    "tornado": motor_tornado.MotorClientEncryption,
}
DETERMINISTIC = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic


@pytest.fixture
def key_vault(client, sync_client):
    """A key vault namespace of its own, dropped after the test."""
    name = f"keys_{uuid.uuid4().hex[:12]}"
    yield f"encryption.{name}"
    sync_client.encryption.drop_collection(name)


def client_encryption(framework, client, namespace, master_key=None):
    kms_providers = {"local": {"key": master_key or os.urandom(96)}}
    return ENCRYPTION_CLASSES[framework](kms_providers, namespace, client, CodecOptions())


async def test_encrypt_and_decrypt_round_trip(framework, client, key_vault, sync_client):
    async with client_encryption(framework, client, key_vault) as encryption:
        key_id = await encryption.create_data_key("local", key_alt_names=["payments"])
        assert isinstance(key_id, Binary) and key_id.subtype == UUID_SUBTYPE
        # The key document landed in the key vault, encrypted under the master key.
        database, collection = key_vault.split(".")
        stored = sync_client[database][collection].find_one({"_id": key_id})
        assert stored["keyAltNames"] == ["payments"] and stored["masterKey"]["provider"] == "local"

        ciphertext = await encryption.encrypt("4111-1111", DETERMINISTIC, key_id=key_id)
        assert isinstance(ciphertext, Binary) and ciphertext.subtype == 6
        assert b"4111-1111" not in bytes(ciphertext)
        assert await encryption.decrypt(ciphertext) == "4111-1111"
        # Deterministic: the same value, the same key, the same ciphertext; by key name too.
        assert await encryption.encrypt("4111-1111", DETERMINISTIC, key_alt_name="payments") == ciphertext

        assert (await encryption.get_key(key_id))["_id"] == key_id
        assert (await encryption.get_key_by_alt_name("payments"))["_id"] == key_id
        keys = await (await encryption.get_keys()).to_list(None)
        assert [key["_id"] for key in keys] == [key_id]
        await encryption.add_key_alt_name(key_id, "cards")
        assert (await encryption.get_key_by_alt_name("cards"))["_id"] == key_id
        await encryption.delete_key(key_id)
        assert await encryption.get_key(key_id) is None


async def test_a_different_master_key_cannot_decrypt(framework, client, key_vault):
    async with client_encryption(framework, client, key_vault) as encryption:
        key_id = await encryption.create_data_key("local")
        ciphertext = await encryption.encrypt(42, DETERMINISTIC, key_id=key_id)
    async with client_encryption(framework, client, key_vault) as other:
        with pytest.raises(EncryptionError):
            await other.decrypt(ciphertext)


async def test_constructor_checks(framework, client, key_vault):
    with pytest.raises(TypeError, match="key_vault_client must be a motorlike client"):
        ENCRYPTION_CLASSES[framework]({"local": {"key": os.urandom(96)}}, key_vault, client.delegate, CodecOptions())
    with pytest.raises(TypeError):
        ENCRYPTION_CLASSES[framework]({"local": {"key": os.urandom(96)}}, key_vault, client, CodecOptions(), io_loop=1)
