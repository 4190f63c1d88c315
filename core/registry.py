"""Named implementations collected through the ``register_<things>`` catalog hooks."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from .errors import PluginError, UnknownNameError

#: category -> hook name. A category's key is ``impl.name`` (stages: ``"<stage>:<name>"``).
CATEGORIES: dict[str, str] = {
    "sources": "register_sources",
    "stages": "register_stages",
    "rewards": "register_rewards",
    "algorithms": "register_algorithms",
    "modes": "register_modes",
    "backends": "register_backends",
    "tool_formats": "register_tool_formats",
    "adapters": "register_adapters",
    "evaluators": "register_evaluators",
    "commands": "register_commands",
    "runners": "register_runners",
}


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
    """Lazily collects every category from a plugin manager.

    ``catalog.get("rewards", "solve_f1")`` returns the registered object;
    ``catalog.names("rewards")`` lists the names; ``catalog.provider("rewards", n)``
    names the plugin that registered it.
    """

    def __init__(self, pm) -> None:
        self._pm = pm
        self._items: dict[str, dict[str, tuple[Any, str]]] = {}

    def _collect(self, category: str) -> dict[str, tuple[Any, str]]:
        if category in self._items:
            return self._items[category]
        if category not in CATEGORIES:
            raise UnknownNameError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
        caller = getattr(self._pm.hook, CATEGORIES[category])
        found: dict[str, tuple[Any, str]] = {}
        for hookimpl in caller.get_hookimpls():
            provider = hookimpl.plugin_name
            hookimpl.function(register=make_registrar(category, found, provider))
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


def make_registrar(category: str, found: dict, provider: str) -> Callable[[Any], None]:
    """A ``register(impl)`` callable that refuses a duplicate name naming both providers."""

    def register(impl: Any) -> None:
        key = key_of(category, impl)
        if key in found:
            raise PluginError(
                f"duplicate {category} name {key!r}: registered by plugin {found[key][1]!r} "
                f"and again by plugin {provider!r}"
            )
        found[key] = (impl, provider)

    return register
