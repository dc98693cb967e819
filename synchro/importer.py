"""The import hook: ``import pymongo`` in chosen test modules yields synchro.

:class:`SynchroFinder` is a meta-path finder. It claims no module of its
own: for every module whose file lies under one of its *roots* (PyMongo's
``test/`` directory, say) and not under an excluded directory (``
test/asynchronous/``), it wraps the loader that would have loaded it, so the
module executes with its own ``__builtins__`` whose ``__import__`` redirects
``pymongo`` and ``gridfs`` (and their submodules) to synchro's *facades*.

A facade stands for one real module: the same names, except that every
synchronous PyMongo class motorlike declares a wrapper for
(``MongoClient``, ``Collection``, ``Cursor``, ``GridFSBucket`` ... and their
PyMongo subclasses such as ``CollectionChangeStream``) is replaced by the
synchro class, and submodules are facades too. A module with nothing to
replace anywhere below it (``pymongo.errors``, ``pymongo.monitoring``,
everything under ``pymongo.asynchronous`` ...) is handed out as itself, so
patching it in a test patches what the driver uses.

Nothing else changes: ``sys.modules`` keeps the real modules, which
PyMongo's and motorlike's own code go on using (including the imports they
do lazily inside functions); ``bson`` and every other package import as
usual; ``importlib.import_module`` and ``mock.patch("pymongo.x.y")`` reach
the real modules.
"""

from __future__ import annotations

import builtins
import importlib.abc
import os
import sys
import threading
import types
from typing import Any, Iterable

#: Top-level packages whose imports are redirected.
REDIRECTED_PACKAGES = ("pymongo", "gridfs")


def is_redirected(name: str) -> bool:
    """Whether an absolute import of ``name`` is redirected to synchro."""
    top = name.partition(".")[0]
    return top in REDIRECTED_PACKAGES


class Facades:
    """Facade modules for one :class:`synchro.SynchroAPI`, made on demand."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self._facades: dict[str, types.ModuleType] = {}
        self._needs_facade: dict[str, bool] = {}
        self._lock = threading.RLock()

    def _replacement(self, value: Any) -> Any:
        if isinstance(value, type) and value.__module__.partition(".")[0] in REDIRECTED_PACKAGES:
            return self.api.class_for_pymongo(value)
        return None

    def _submodules(self, module: types.ModuleType) -> Iterable[types.ModuleType]:
        prefix = module.__name__ + "."
        for value in list(vars(module).values()):
            if isinstance(value, types.ModuleType) and value.__name__.startswith(prefix):
                yield value
        for name, value in list(sys.modules.items()):
            if name.startswith(prefix) and "." not in name[len(prefix) :] and value is not None:
                yield value

    def needs_facade(self, module: types.ModuleType) -> bool:
        """True if ``module`` or a submodule holds a class synchro replaces."""
        with self._lock:
            name = module.__name__
            known = self._needs_facade.get(name)
            if known is not None:
                return known
            self._needs_facade[name] = False  # cycle guard
            result = any(self._replacement(value) is not None for value in list(vars(module).values()))
            if not result:
                result = any(self.needs_facade(sub) for sub in self._submodules(module))
            self._needs_facade[name] = result
            return result

    def facade(self, module: types.ModuleType) -> types.ModuleType:
        """The facade of a real ``pymongo`` / ``gridfs`` module (maybe itself)."""
        if not self.needs_facade(module):
            return module
        with self._lock:
            existing = self._facades.get(module.__name__)
            if existing is not None:
                return existing
            facade = _FacadeModule(module.__name__, module.__doc__)
            facade.__dict__["_synchro_real_module"] = module
            facade.__dict__["_synchro_facades"] = self
            self._facades[module.__name__] = facade
            for key, value in list(vars(module).items()):
                if key in ("__name__", "__doc__", "__loader__", "__spec__"):
                    continue
                if isinstance(value, types.ModuleType) and is_redirected(value.__name__):
                    continue  # resolved lazily by _FacadeModule.__getattr__
                replacement = self._replacement(value)
                facade.__dict__[key] = value if replacement is None else replacement
            return facade

    def for_import(self, name: str, fromlist: Any) -> types.ModuleType:
        """What ``__import__(name, fromlist=...)`` returns, for a redirected name."""
        if fromlist:
            return self.facade(sys.modules[name])
        return self.facade(sys.modules[name.partition(".")[0]])


class _FacadeModule(types.ModuleType):
    """A stand-in module; submodules resolve to facades when first read."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        real = self.__dict__["_synchro_real_module"]
        facades: Facades = self.__dict__["_synchro_facades"]
        try:
            value = getattr(real, name)
        except AttributeError:
            raise AttributeError(f"module {real.__name__!r} has no attribute {name!r}") from None
        if isinstance(value, types.ModuleType) and is_redirected(value.__name__):
            value = facades.facade(value)
        self.__dict__[name] = value
        return value

    def __repr__(self) -> str:
        return f"<synchro facade of module {self.__name__!r}>"


def make_redirecting_builtins(facades: Facades) -> dict[str, Any]:
    """A ``__builtins__`` dict whose ``__import__`` hands out facades."""
    real_import = builtins.__import__

    def synchro_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        module = real_import(name, globals, locals, fromlist, level)
        if level == 0 and is_redirected(name):
            return facades.for_import(name, fromlist)
        return module

    namespace = dict(vars(builtins))
    namespace["__import__"] = synchro_import
    return namespace


class _RedirectingLoader(importlib.abc.Loader):
    """Wraps a module's real loader; the module runs with redirecting builtins."""

    def __init__(self, inner: Any, redirected_builtins: dict[str, Any]) -> None:
        self._inner = inner
        self._builtins = redirected_builtins

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._inner, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self._builtins
        self._inner.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        # get_source, get_code, is_package ... for tracebacks and inspect.
        return getattr(self._inner, name)


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


class SynchroFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that redirects PyMongo imports of modules under ``roots``."""

    def __init__(self, api: Any, roots: Iterable[str], excluded: Iterable[str] = ()) -> None:
        self.facades = Facades(api)
        self.roots = [os.path.realpath(root) for root in roots]
        self.excluded = [os.path.realpath(path) for path in excluded]
        self.builtins = make_redirecting_builtins(self.facades)
        self._searching = threading.local()

    def covers(self, path: str | None) -> bool:
        if not path:
            return False
        path = os.path.realpath(path)
        if any(_under(path, excluded) for excluded in self.excluded):
            return False
        return any(_under(path, root) for root in self.roots)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if getattr(self._searching, "active", False):
            return None
        self._searching.active = True
        try:
            spec = None
            for finder in list(sys.meta_path):
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching.active = False
        if spec is None or spec.loader is None or not self.covers(spec.origin):
            return None
        spec.loader = _RedirectingLoader(spec.loader, self.builtins)
        return spec

    def install(self) -> SynchroFinder:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
        return self

    def uninstall(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)


def install(api: Any, roots: Iterable[str], excluded: Iterable[str] = ()) -> SynchroFinder:
    """Install a :class:`SynchroFinder` first on ``sys.meta_path``; returns it."""
    # Load the real packages first so facades can be made from them.
    for package in REDIRECTED_PACKAGES:
        importlib.import_module(package)
    return SynchroFinder(api, roots, excluded).install()
