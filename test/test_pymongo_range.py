"""The PyMongo range motorlike claims (pyproject.toml) and what it needs of it.

These run in every environment: the README's (the PyMongo the stubs come
from), and tox's ``pymongo-oldest`` and ``pymongo-newest`` (the two ends of
the range; CI runs a subset on the oldest).
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pymongo
import pytest

from motorlike import _pymongo_members
from motorlike.frameworks import asyncio as asyncio_framework
from motorlike.metaprogramming import AsyncCall, DelegateMethod, ReadOnlyProperty

pytestmark = pytest.mark.no_server

REPO = Path(__file__).resolve().parent.parent


def _claimed_range() -> tuple[tuple[int, ...], tuple[int, ...]]:
    text = (REPO / "pyproject.toml").read_text()
    match = re.search(r'dependencies = \["pymongo>=([0-9.]+),<([0-9.]+)"\]', text)
    assert match, "pyproject.toml: no pymongo>=X,<Y dependency"
    return tuple(map(int, match.group(1).split("."))), tuple(map(int, match.group(2).split(".")))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _public_declarations(module_name: str) -> list[type]:
    module = __import__(module_name, fromlist=["__all__"])
    classes = [getattr(module, name) for name in module.__all__]
    return [klass.__bases__[0] for klass in classes if isinstance(klass, type) and hasattr(klass, "_framework")]


def test_the_installed_pymongo_is_in_the_claimed_range() -> None:
    oldest, beyond = _claimed_range()
    assert oldest <= _version(pymongo.version) < beyond, (pymongo.version, oldest, beyond)


def test_tox_tests_both_ends_of_the_claimed_range() -> None:
    text = (REPO / "tox.ini").read_text()
    oldest_env = text[text.index("[testenv:pymongo-oldest]") :].split("\n[")[0]
    newest_env = text[text.index("[testenv:pymongo-newest]") :].split("\n[")[0]
    oldest, beyond = _claimed_range()
    dotted = ".".join(map(str, oldest))
    assert f"deps = pymongo[encryption]=={dotted}.*" in oldest_env
    assert f"deps = pymongo[encryption]>={dotted},<{'.'.join(map(str, beyond))}" in newest_env


def test_the_installed_metadata_says_the_same_range() -> None:
    """The error message reads the range from the installed metadata: the same as pyproject's."""
    oldest, beyond = _claimed_range()
    try:
        metadata.version("motorlike")
    except metadata.PackageNotFoundError:
        pytest.skip("motorlike is not installed (running from the source tree only)")
    said = _pymongo_members.supported_pymongo()
    assert said == f"pymongo<{'.'.join(map(str, beyond))},>={'.'.join(map(str, oldest))}", said


@pytest.mark.parametrize("module_name", ["motorlike.motor_asyncio", "motorlike.motor_tornado"])
def test_every_declared_pymongo_method_exists_in_the_installed_pymongo(module_name: str) -> None:
    declarations = _public_declarations(module_name)
    assert len(declarations) >= 10, declarations
    missing = list(_pymongo_members.missing_members(declarations, asyncio_framework))
    assert missing == [], f"PyMongo {pymongo.version} lacks: {missing}"


def test_hand_written_pymongo_calls_exist_in_the_installed_pymongo() -> None:
    """Methods motorlike writes by hand rather than declares, on PyMongo members of their own."""
    from pymongo.client_session import ClientSession

    assert callable(getattr(ClientSession, "bind", None)), f"PyMongo {pymongo.version}: no ClientSession.bind"


class _OldPyMongoThing:
    """A PyMongo class as an older release had it: no ``frobnicate``."""

    def existing(self) -> str:
        return "here"

    @property
    def value(self) -> int:
        return 1


class _Declaration:
    __delegate_class__ = _OldPyMongoThing
    __motor_class_name__ = "MotorThing"
    frobnicate = AsyncCall()
    stir = DelegateMethod(attr_name="frobnicate")
    existing = DelegateMethod()
    value = ReadOnlyProperty()

    def __init__(self) -> None:
        self.delegate = _OldPyMongoThing()


@pytest.mark.parametrize("attr_name, pymongo_name", [("frobnicate", "frobnicate"), ("stir", "frobnicate")])
def test_a_method_the_installed_pymongo_lacks_is_a_clear_error(attr_name: str, pymongo_name: str) -> None:
    factory = vars(_Declaration)[attr_name]
    method = _pymongo_members.attribute_for(factory, _Declaration, attr_name, asyncio_framework)
    with pytest.raises(_pymongo_members.PyMongoTooOldError) as raised:
        method(_Declaration())
    text = str(raised.value)
    assert f"AsyncIOMotorThing.{attr_name} needs" in text
    assert f"_OldPyMongoThing.{pymongo_name}" in text
    assert f"PyMongo {pymongo.version} (installed)" in text
    assert "pip install 'pymongo" in text
    assert isinstance(raised.value, NotImplementedError) and isinstance(raised.value, AttributeError)
    assert method.__name__ == attr_name and "Not available" in method.__doc__


def test_members_the_installed_pymongo_has_are_generated_as_usual() -> None:
    existing = _pymongo_members.attribute_for(vars(_Declaration)["existing"], _Declaration, "existing", asyncio_framework)
    assert existing(_Declaration()) == "here"
    value = _pymongo_members.attribute_for(vars(_Declaration)["value"], _Declaration, "value", asyncio_framework)
    assert isinstance(value, property) and value.fget(_Declaration()) == 1
    found = list(_pymongo_members.missing_members([_Declaration], asyncio_framework))
    assert found == [("_Declaration", "frobnicate", "frobnicate"), ("_Declaration", "stir", "frobnicate")]
