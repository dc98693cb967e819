"""Which declaration wraps which PyMongo class, and the names that follow.

``@wraps_pymongo(Collection)`` on a declaration records it here; the
generator (motorlike.metaprogramming) and the signatures it writes
(motorlike._signatures) read it.
"""

from __future__ import annotations

from typing import Any, Callable

# PyMongo class -> declaration class that wraps it (see wraps_pymongo).
_wrapper_declarations: dict[type, type] = {}


def wraps_pymongo(pymongo_class: type) -> Callable[[type], type]:
    """Class decorator: declare that ``cls`` wraps ``pymongo_class``.

    Results of that exact PyMongo type (or a subclass with no declaration of
    its own) returned through ``wrap=True`` factories become instances of the
    generated class, made with ``cls._from_delegate(owner, result)``.
    """

    def register(cls: type) -> type:
        cls.__delegate_class__ = pymongo_class  # type: ignore[attr-defined]
        _wrapper_declarations[pymongo_class] = cls
        return cls

    return register


def declaration_for(pymongo_type: type) -> type | None:
    """The declaration class registered for ``pymongo_type`` or its nearest base."""
    for klass in pymongo_type.__mro__:
        declaration = _wrapper_declarations.get(klass)
        if declaration is not None:
            return declaration
    return None


#: framework -> (how many declarations it was made from, the mapping): the
#: generator asks once per attribute, the mapping changes only when a
#: declaration is added.
_class_names_cache: dict[Any, tuple[int, dict[str, str]]] = {}


def framework_class_names(framework: Any) -> dict[str, str]:
    """PyMongo class name -> this framework's class name, for signatures."""
    cached = _class_names_cache.get(framework)
    if cached is not None and cached[0] == len(_wrapper_declarations):
        return cached[1]
    names = _build_class_names(framework)
    _class_names_cache[framework] = (len(_wrapper_declarations), names)
    return names


def _build_class_names(framework: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for pymongo_class, declaration in list(_wrapper_declarations.items()):
        motor_name = framework.CLASS_PREFIX + getattr(declaration, "__motor_class_name__", declaration.__name__)
        pending = [pymongo_class]
        while pending:  # subclasses too: CollectionChangeStream is a ChangeStream
            klass = pending.pop()
            if klass is pymongo_class or klass not in _wrapper_declarations:
                names.setdefault(klass.__name__, motor_name)
                pending.extend(klass.__subclasses__())
    return names
