"""How a generated method presents itself: its name, its signature (PyMongo's
parameters, motorlike's class names) and its documentation."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from motorlike import _docstrings
from motorlike._registry import framework_class_names


def pymongo_member(cls: type, name: str) -> Any:
    delegate_class = getattr(cls, "__delegate_class__", None)
    if delegate_class is None:
        return None
    return inspect.getattr_static(delegate_class, name, None)


def set_signature(function: Callable[..., Any], signature: inspect.Signature) -> None:
    """``__signature__`` and the ``__annotations__`` that agree with it (autodoc
    and typing.get_type_hints read the latter, not the signature)."""
    function.__signature__ = signature  # type: ignore[attr-defined]
    annotations = {
        name: parameter.annotation
        for name, parameter in signature.parameters.items()
        if parameter.annotation is not inspect.Parameter.empty
    }
    if signature.return_annotation is not inspect.Signature.empty:
        annotations["return"] = signature.return_annotation
    function.__annotations__ = annotations


def describe(
    function: Callable[..., Any],
    cls: type,
    attr_name: str,
    pymongo_name: str,
    doc: str | None,
    framework: Any,
    *,
    coroutine: bool = False,
    wrap: bool = False,
    coroutine_names: Callable[[], set[str]] = set,
) -> None:
    """Name a generated method, and give it a signature and documentation for
    motorlike's API (see motorlike._docstrings)."""
    function.__name__ = attr_name
    motor_name = getattr(cls, "__motor_class_name__", cls.__name__)
    function.__qualname__ = f"{framework.CLASS_PREFIX}{motor_name}.{attr_name}"
    member = pymongo_member(cls, pymongo_name)
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    signature = None
    if callable(member):
        try:
            signature = inspect.signature(member)
        except (TypeError, ValueError):
            pass
    if signature is not None:
        class_names = framework_class_names(framework)
        parameters = [
            parameter.replace(annotation=_docstrings.motorlike_annotation(parameter.annotation, class_names))
            if parameter.annotation is not inspect.Parameter.empty
            else parameter
            for parameter in signature.parameters.values()
        ]
        returns = signature.return_annotation
        if wrap and returns is not inspect.Signature.empty:
            returns = _docstrings.motorlike_annotation(returns, class_names)
        signature = signature.replace(parameters=parameters, return_annotation=returns)
        set_signature(function, signature)
    if doc is not None:
        function.__doc__ = doc
    elif coroutine:
        returns_text = None
        if signature is not None and signature.return_annotation is not inspect.Signature.empty:
            returns_text = str(signature.return_annotation)
        function.__doc__ = _docstrings.coroutine_doc(
            cls,
            attr_name,
            getattr(cls, "__delegate_class__", None),
            pymongo_name,
            getattr(member, "__doc__", None),
            returns_text,
            coroutine_names(),
        )
    elif member is not None:
        function.__doc__ = getattr(member, "__doc__", None)


def pymongo_parameters(
    source: Callable[..., Any], *, skip: int = 1, keyword_only: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Show a hand-written method with the parameters of the PyMongo callable it forwards to.

    The method takes ``*args, **kwargs`` and passes them on; ``inspect``, help()
    and the stub generator see ``source``'s parameters after its first
    ``skip`` (``self``, and Cursor's ``collection``), then ``keyword_only``
    motorlike options (default None), and the method's own return type.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(function)
        parameters = list(inspect.signature(source).parameters.values())[skip:]
        extra = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation="Any")
            for name in keyword_only
        ]
        if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
            parameters[-1:-1] = extra
        else:
            parameters += extra
        first = next(iter(own.parameters.values()))
        function.__signature__ = own.replace(parameters=[first, *parameters])  # type: ignore[attr-defined]
        function.__pymongo_parameters__ = source  # type: ignore[attr-defined]
        function.__doc__ = _docstrings.with_pymongo_parameters(function.__doc__, source.__doc__)
        return function

    return decorate


def is_async_method(function: Any) -> bool:
    """Whether calling ``function`` gives an awaitable: a coroutine function,
    or a method generated by ``AsyncCall`` (a running future, as Motor's)."""
    return inspect.iscoroutinefunction(function) or bool(getattr(function, "_is_coroutine_annotation", False))


def coroutine_annotation(f: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``f`` as returning an awaitable, for documentation (Motor kept this)."""
    f._is_coroutine_annotation = True  # type: ignore[attr-defined]
    return f
