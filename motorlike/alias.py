"""The opt-in ``motor`` alias: let code written for Motor import motorlike.

After :func:`install_motor_alias`, ``import motor`` gives the :mod:`motorlike`
package and ``import motor.X`` gives ``motorlike.X`` (``motor.motor_asyncio``,
``motor.core``, ``motor.motor_tornado`` ...). They are the same module objects,
so ``isinstance`` checks and subclasses see one set of classes.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any, Sequence

_ALIAS = "motor"
_TARGET = "motorlike"


class _AliasLoader(importlib.abc.Loader):
    """Loads ``motor.X`` by importing ``motorlike.X`` and handing that module out."""

    def __init__(self, target_name: str) -> None:
        self._target_name = target_name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self._target_name)

    def exec_module(self, module: ModuleType) -> None:
        # The target module is already executed; importing it did that.
        pass


class _MotorAliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        target_name = _TARGET + fullname[len(_ALIAS) :]
        if importlib.util.find_spec(target_name) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target_name), is_package=True)


_finder = _MotorAliasFinder()


def install_motor_alias() -> None:
    """Make ``import motor`` (and every ``motor.X``) resolve to motorlike.

    Call it before the code that imports ``motor`` runs, e.g. at the top of
    a test suite's ``conftest.py``. Raises RuntimeError if the real Motor is
    already imported, since two sets of classes would then be in use.
    """
    existing = sys.modules.get(_ALIAS)
    if existing is not None and getattr(existing, "__name__", None) != _TARGET:
        raise RuntimeError("the real 'motor' package is already imported; call install_motor_alias() before importing it")
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    # Modules motorlike has already imported get their alias names now, so
    # that 'motor.core' and 'motorlike.core' are one module object.
    for name, module in list(sys.modules.items()):
        if name == _TARGET or name.startswith(_TARGET + "."):
            sys.modules.setdefault(_ALIAS + name[len(_TARGET) :], module)


def uninstall_motor_alias() -> None:
    """Undo :func:`install_motor_alias` (for tests)."""
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name, module in list(sys.modules.items()):
        if (name == _ALIAS or name.startswith(_ALIAS + ".")) and getattr(module, "__name__", "").startswith(_TARGET):
            del sys.modules[name]
