"""Members a declaration names that the installed PyMongo does not have.

motorlike's declarations (``motorlike.core`` ...) list PyMongo methods by
name; the generator turns each into a method of the public class. A PyMongo
inside the supported range has them all (test/test_pymongo_range.py checks
every declaration against the installed PyMongo, in the oldest and newest
PyMongo environments too). One outside it, or a future release that drops
one, would otherwise fail deep inside motorlike with
``'Collection' object has no attribute 'x'``. Through :func:`attribute_for`,
the generated method raises :class:`PyMongoTooOldError` instead, naming the
motorlike method, the PyMongo member it needs, the PyMongo installed and
the range motorlike needs.

The generator is to ask :func:`attribute_for` for each factory instead of
calling ``factory.create_attribute`` itself (one line in
``metaprogramming.create_class_with_framework``).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator


def supported_pymongo() -> str:
    """The PyMongo requirement motorlike was installed with (``pymongo<5,>=4.18``),
    said in the error so that the fix is one ``pip install`` away."""
    from importlib import metadata

    try:
        requirements = metadata.requires("motorlike") or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        if requirement.startswith("pymongo") and "extra ==" not in requirement:
            return requirement.replace(" ", "")
    return "pymongo (the range in motorlike's pyproject.toml)"


class PyMongoTooOldError(NotImplementedError, AttributeError):
    """A motorlike method needs a PyMongo member the installed PyMongo lacks.

    An AttributeError too, so that ``hasattr(obj, name)`` and
    ``getattr(obj, name, default)`` say "not there" for a property, as they
    would with the PyMongo object itself.
    """


def pymongo_version() -> str:
    import pymongo

    return pymongo.version


def missing_pymongo_member(cls: type, pymongo_name: str) -> bool:
    """Whether ``cls``'s PyMongo class (``__delegate_class__``) lacks ``pymongo_name``.

    Looked up on the class, as the generator does: a member PyMongo sets
    only on instances is not seen here, so only methods are checked (see
    :func:`checked_factory`).
    """
    delegate_class = getattr(cls, "__delegate_class__", None)
    if delegate_class is None:
        return False
    return inspect.getattr_static(delegate_class, pymongo_name, None) is None


def message(class_name: str, attr_name: str, delegate_class: type, pymongo_name: str) -> str:
    return (
        f"{class_name}.{attr_name} needs {delegate_class.__module__}.{delegate_class.__qualname__}.{pymongo_name}, "
        f"which PyMongo {pymongo_version()} (installed) does not have; motorlike needs "
        f"{supported_pymongo()}: pip install '{supported_pymongo()}'"
    )


def unavailable(cls: type, attr_name: str, pymongo_name: str, framework: Any) -> Callable[..., Any]:
    """A method that raises :class:`PyMongoTooOldError` when called."""
    class_name = framework.CLASS_PREFIX + getattr(cls, "__motor_class_name__", cls.__name__)
    delegate_class = cls.__delegate_class__  # type: ignore[attr-defined]

    def needs_newer_pymongo(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise PyMongoTooOldError(message(class_name, attr_name, delegate_class, pymongo_name))

    needs_newer_pymongo.__name__ = attr_name
    needs_newer_pymongo.__qualname__ = f"{class_name}.{attr_name}"
    needs_newer_pymongo.__doc__ = (
        f"Not available: PyMongo {pymongo_version()} has no {delegate_class.__qualname__}.{pymongo_name} "
        f"(motorlike needs {supported_pymongo()})."
    )
    return needs_newer_pymongo


def _calls_a_pymongo_method(factory: Any, created: Any) -> bool:
    # Properties are not checked (PyMongo may set an attribute only on
    # instances), nor methods a helper of motorlike's runs (``run=``).
    return not isinstance(created, property) and getattr(factory, "run", None) is None


def attribute_for(factory: Any, cls: type, attr_name: str, framework: Any) -> Any:
    """``factory.create_attribute(cls, attr_name, framework)``, or, if the
    PyMongo method it calls is missing, a method raising PyMongoTooOldError."""
    created = factory.create_attribute(cls, attr_name, framework)
    pymongo_name = factory.attr_name or attr_name
    if _calls_a_pymongo_method(factory, created) and missing_pymongo_member(cls, pymongo_name):
        return unavailable(cls, attr_name, pymongo_name, framework)
    return created


def missing_members(declarations: list[type], framework: Any) -> Iterator[tuple[str, str, str]]:
    """(declaration, attribute, PyMongo name) for every method of the
    declarations whose PyMongo method the installed PyMongo lacks: nothing,
    inside the supported range."""
    for declaration in declarations:
        seen: set[str] = set()
        for klass in declaration.__mro__:
            for attr_name, value in vars(klass).items():
                if attr_name in seen:
                    continue
                seen.add(attr_name)  # the most derived definition wins, as in the generator
                if not hasattr(value, "create_attribute"):
                    continue
                pymongo_name = value.attr_name or attr_name
                created = value.create_attribute(declaration, attr_name, framework)
                if _calls_a_pymongo_method(value, created) and missing_pymongo_member(declaration, pymongo_name):
                    yield declaration.__name__, attr_name, pymongo_name
