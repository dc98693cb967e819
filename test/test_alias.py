"""The opt-in ``motor`` alias, and libraries' ways of using Motor's classes.

Each alias test runs in a fresh interpreter, since the alias changes
``sys.modules`` for the whole process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_python(source: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", textwrap.dedent(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.no_server
def test_import_motor_resolves_to_motorlike() -> None:
    result = run_python(
        """
        import motorlike
        motorlike.install_motor_alias()
        import motor
        import motor.motor_asyncio
        from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase, AsyncIOMotorCursor
        from motor.core import AgnosticClient, AgnosticCommandCursor, AgnosticClientSession
        from motor import motor_tornado
        import motorlike.motor_asyncio
        assert motor is motorlike
        assert motor.motor_asyncio is motorlike.motor_asyncio
        assert AsyncIOMotorClient is motorlike.motor_asyncio.AsyncIOMotorClient
        assert isinstance(motor.version, str) and motor.version_tuple[0] >= 3
        client = AsyncIOMotorClient("mongodb://127.0.0.1:1", connect=False)
        assert isinstance(client, AgnosticClient)
        assert isinstance(client.db, AsyncIOMotorDatabase)
        assert motor_tornado.MotorClient.__name__ == "MotorClient"
        client.close()
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.no_server
def test_package_root_offers_the_tornado_classes_on_first_use() -> None:
    result = run_python(
        """
        import sys
        import motorlike
        motorlike.install_motor_alias()
        import motor
        from motor.motor_asyncio import AsyncIOMotorClient
        assert "tornado" not in sys.modules  # an asyncio program never imports it
        from motor import MotorClient, MotorGridFSBucket, MotorGridIn
        import motorlike.motor_tornado as tornado_classes
        assert motor.MotorClient is tornado_classes.MotorClient is MotorClient
        assert MotorGridFSBucket is tornado_classes.MotorGridFSBucket
        assert {"MotorCursor", "MotorChangeStream"} <= set(dir(motor))
        try:
            motor.MotorNoSuchThing
        except AttributeError as exc:
            assert "MotorNoSuchThing" in str(exc)
        else:
            raise AssertionError("no AttributeError")
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.no_server
@pytest.mark.parametrize(
    "use, missing, extra",
    [
        ("import motorlike.motor_tornado", "tornado", "tornado"),
        ("import motorlike.web", "tornado", "tornado"),
        ("import motorlike.aiohttp", "aiohttp", "aiohttp"),
        ("import motorlike; motorlike.MotorClient", "tornado", "tornado"),
    ],
)
def test_a_missing_optional_dependency_names_its_extra(use: str, missing: str, extra: str) -> None:
    result = run_python(
        f"""
        import sys
        sys.modules[{missing!r}] = None  # as if it were not installed
        try:
            {use}
        except (ModuleNotFoundError, AttributeError) as exc:
            assert "pip install 'motorlike[{extra}]'" in str(exc), exc
        else:
            raise AssertionError("no error")
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.no_server
def test_alias_refuses_when_real_motor_is_loaded() -> None:
    result = run_python(
        """
        import sys, types
        sys.modules["motor"] = types.ModuleType("motor")
        import motorlike
        try:
            motorlike.install_motor_alias()
        except RuntimeError as exc:
            print("refused:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused:")


@pytest.mark.no_server
def test_without_the_alias_motor_is_not_motorlike() -> None:
    result = run_python(
        """
        import motorlike.motor_asyncio
        try:
            import motor
        except ImportError:
            print("absent")
        else:
            print("real" if motor.__name__ == "motor" and not hasattr(motor, "install_motor_alias") else "aliased")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("absent", "real")


async def test_proxy_cursor_subclass_with_slots(aio_client) -> None:
    """umongo's pattern: subclass the cursor with __slots__, skip __init__, proxy attributes."""
    from motorlike.motor_asyncio import AsyncIOMotorCursor

    class WrappedCursor(AsyncIOMotorCursor):
        __slots__ = ("raw_cursor", "transform")

        def __init__(self, transform, cursor):
            WrappedCursor.raw_cursor.__set__(self, cursor)
            WrappedCursor.transform.__set__(self, transform)

        def __getattr__(self, name):
            return getattr(self.raw_cursor, name)

        def __setattr__(self, name, value):
            return setattr(self.raw_cursor, name, value)

        def clone(self):
            return WrappedCursor(self.transform, self.raw_cursor.clone())

        async def next(self):
            return self.transform(await self.raw_cursor.__anext__())

        __anext__ = next

    collection = aio_client.motorlike_test.proxy_cursor
    await collection.drop()
    await collection.insert_many([{"i": i} for i in range(4)])
    wrapped = WrappedCursor(lambda doc: doc["i"] * 10, collection.find(sort=[("i", 1)]))
    assert isinstance(wrapped, AsyncIOMotorCursor)
    assert wrapped.sort("i", -1) is wrapped
    assert [value async for value in wrapped] == [30, 20, 10, 0]
    again = wrapped.clone()
    assert len(await again.to_list(None)) == 4
    await collection.drop()
