"""Named implementations collected through the ``register_<things>`` catalog hooks.

The categories are declared once, in :data:`toolfeedback.contracts.BASES`. Each category
is collected by calling its hook through pluggy's hook caller
(``pm.hook.register_rewards(register=...)``), so ``tryfirst``, ``trylast``, ``wrapper``
and ``hookwrapper`` implementations keep their meaning. One :class:`Catalog` is cached
per plugin manager (``Catalog(pm)`` returns it) and rebuilt only when the set of
registered plugins changes.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Iterator

from .contracts import BASES, adopt, hook_name, missing_members
from .errors import PluginError, UnknownNameError

#: category -> hook name (derived from :data:`toolfeedback.contracts.BASES`)
CATEGORIES: dict[str, str] = {category: hook_name(category) for category in BASES}

_CACHE_ATTR = "_toolfeedback_catalog"
_LOCK = threading.Lock()


def key_of(category: str, impl: Any) -> str:
    """The name an implementation is selected by within ``category``."""
    name = getattr(impl, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"{category}: {impl!r} has no string 'name' attribute")
    if category == "stages":
        stage = getattr(impl, "stage", None)
        if not isinstance(stage, str) or not stage:
            raise PluginError(f"stages: {impl!r} has no string 'stage' attribute")
        return f"{stage}:{name}"
    return name


class Catalog:
    """Lazily collects every category from a plugin manager; one per manager.

    ``catalog.get("rewards", "solve_f1")`` returns the registered object;
    ``catalog.names("rewards")`` lists the names; ``catalog.provider("rewards", n)``
    names the plugin that registered it.
    """

    def __new__(cls, pm):
        with _LOCK:
            cached = getattr(pm, _CACHE_ATTR, None)
            version = _version(pm)
            if cached is not None and cached._version == version:
                return cached
            catalog = super().__new__(cls)
            catalog._pm, catalog._version, catalog._items = pm, version, {}
            try:
                setattr(pm, _CACHE_ATTR, catalog)
            except AttributeError:  # a manager that takes no attributes: no cache
                pass
            return catalog

    def __init__(self, pm) -> None:  # state is set once, in __new__
        pass

    def _collect(self, category: str) -> dict[str, tuple[Any, str]]:
        if category in self._items:
            return self._items[category]
        if category not in CATEGORIES:
            raise UnknownNameError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
        caller = getattr(self._pm.hook, CATEGORIES[category])
        found: dict[str, tuple[Any, str]] = {}
        caller(register=make_registrar(category, found, _provider_finder(caller)))
        self._items[category] = found
        return found

    def get(self, category: str, name: str) -> Any:
        """The implementation called ``name`` in ``category``; a clear error if none."""
        found = self._collect(category)
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise UnknownNameError(f"no {category[:-1].replace('_', ' ')} named {name!r} (known: {known})")
        return found[name][0]

    def names(self, category: str) -> list[str]:
        """Sorted names registered in ``category``."""
        return sorted(self._collect(category))

    def items(self, category: str) -> Iterator[tuple[str, Any]]:
        """``(name, impl)`` pairs of ``category``, sorted by name."""
        found = self._collect(category)
        for name in sorted(found):
            yield name, found[name][0]

    def provider(self, category: str, name: str) -> str:
        """The plugin name that registered ``name``."""
        self.get(category, name)
        return self._collect(category)[name][1]


def _version(pm) -> tuple:
    # what invalidates the cache: a plugin registered or unregistered since it was built
    return tuple(sorted((name, id(plugin)) for name, plugin in pm.list_name_plugin()))


def _provider_finder(caller) -> Callable[[], str]:
    """Which plugin is calling ``register`` right now: the hook implementation found on
    the call stack (pluggy calls every implementation itself, so we look where it is)."""
    by_code: dict[Any, list] = {}
    for impl in caller.get_hookimpls():
        code = getattr(impl.function, "__code__", None)
        if code is not None:
            by_code.setdefault(code, []).append(impl)

    def find() -> str:
        frame = sys._getframe(2)  # noqa: SLF001 - the caller of register()
        while frame is not None:
            impls = by_code.get(frame.f_code)
            if impls:
                if len(impls) == 1:
                    return impls[0].plugin_name
                me = frame.f_locals.get("self")  # one class registered as several plugins
                for impl in impls:
                    if getattr(impl.function, "__self__", None) is me:
                        return impl.plugin_name
                return impls[0].plugin_name
            frame = frame.f_back
        return "?"

    return find


def make_registrar(category: str, found: dict, provider) -> Callable[[Any], None]:
    """A ``register(impl)`` callable that refuses a duplicate name naming both providers,
    and an object lacking required members of the category's base class; a duck-typed
    object is stored adopted (:func:`toolfeedback.contracts.adopt`).

    ``provider`` is the registering plugin's name, or a callable that finds it.
    """

    def register(impl: Any) -> None:
        who = provider() if callable(provider) else provider
        key = key_of(category, impl)
        missing = missing_members(category, impl)
        if missing:
            base = BASES[category]
            raise PluginError(
                f"{category}: {key!r} from plugin {who!r} lacks {', '.join(missing)} (see "
                f"toolfeedback.contracts.{base.__name__})")
        if key in found:
            raise PluginError(
                f"duplicate {category} name {key!r}: registered by plugin {found[key][1]!r} "
                f"and again by plugin {who!r}"
            )
        found[key] = (adopt(category, impl), who)

    return register
