"""The plugin manager factory: built-ins and third parties both come through entry points."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Iterable

import attrs
import pluggy

from . import hookspecs
from .markers import PROJECT

#: Entry-point group that every plugin (built-in or not) registers under.
ENTRY_POINT_GROUP = "toolfeedback"
#: Comma-separated plugin names that are not loaded.
BLOCK_ENV = "TOOLFEEDBACK_BLOCK_PLUGINS"


@attrs.frozen
class LoadFailure:
    """An entry point that could not be imported or registered."""

    name: str
    distribution: str
    error: str


def blocked_names(value: str | None = None) -> set[str]:
    """Plugin names blocked by ``TOOLFEEDBACK_BLOCK_PLUGINS`` (or by ``value``)."""
    raw = os.environ.get(BLOCK_ENV, "") if value is None else value
    return {part.strip() for part in raw.split(",") if part.strip()}


def create_plugin_manager(*, entry_points: bool = True, plugins: Iterable[object] = (),
                          block: Iterable[str] | None = None, report=None) -> pluggy.PluginManager:
    """Build a fresh plugin manager.

    ``entry_points``: load every plugin of the ``toolfeedback`` entry-point group (the
    built-ins are registered there too). ``plugins``: extra plugin objects or modules to
    register (tests, API composition; one already loaded by entry point is not registered
    twice). ``block``: names not to load, added to
    ``TOOLFEEDBACK_BLOCK_PLUGINS``. A plugin that fails to import is reported to
    ``report`` (default: a line on stderr) and skipped; the failures are kept on
    ``pm.load_failures``. ``check_pending()`` runs last, so an implementation without a
    spec is an error.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.load_failures = []  # type: ignore[attr-defined]
    pm.plugin_distributions = {}  # type: ignore[attr-defined]  # name -> (distribution, version)
    blocked = blocked_names() | set(block or ())
    for name in blocked:
        pm.set_blocked(name)
    if entry_points:
        _load_entry_points(pm, blocked, report or _stderr_report)
    for plugin in plugins:
        # the same module may come by entry point too (installed, and passed in from
        # Python): it is one plugin, registered once
        if not pm.is_registered(plugin):
            pm.register(plugin)
    pm.check_pending()
    return pm


def _stderr_report(failure: LoadFailure) -> None:
    print(f"toolfeedback: warning: plugin {failure.name!r} ({failure.distribution}) "
          f"failed to load and was skipped: {failure.error}", file=sys.stderr)


def _load_entry_points(pm: pluggy.PluginManager, blocked: set[str], report) -> None:
    # Each entry point loads inside its own try: one broken third-party plugin must not
    # take down the host (pluggy's own loader stops at the first failure).
    seen: set[str] = set()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in blocked or ep.name in seen or pm.get_plugin(ep.name) is not None:
            continue
        seen.add(ep.name)
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            pm.check_pending()
        except Exception as exc:  # noqa: BLE001 - any failure of foreign code is reported
            if pm.get_plugin(ep.name) is not None:
                pm.unregister(name=ep.name)
            failure = LoadFailure(ep.name, dist, f"{type(exc).__name__}: {exc}")
            pm.load_failures.append(failure)
            report(failure)
            continue
        version = ep.dist.version if ep.dist is not None else None
        pm.plugin_distributions[ep.name] = (dist, version)


@attrs.frozen
class PluginInfo:
    """One row of ``toolfeedback plugins``."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def plugin_infos(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every registered plugin with its distribution, version and implemented hooks."""
    dists = getattr(pm, "plugin_distributions", {})
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        dist, version = dists.get(name, (None, None))
        rows.append(PluginInfo(name=name, distribution=dist, version=version, hooks=hooks))
    return sorted(rows, key=lambda r: r.name)
