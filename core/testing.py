"""Helpers for testing toolfeedback plugins (also loaded as a pytest plugin).

Plugin authors get two fixtures once toolfeedback is installed:

- ``tf_plugin_manager``: a factory ``tf_plugin_manager(*plugins, entry_points=False)``
  returning a fresh plugin manager with just those plugins (plus the built-ins when
  ``entry_points=True``); every manager is discarded after the test, so tests never
  load installed entry points by accident.
- ``tf_check_plugin``: ``tf_check_plugin(plugin)`` asserts that every hook the plugin
  implements has a spec, that everything it registers has every member of its category's
  base class (:mod:`toolfeedback.contracts`) and that its methods take the arguments the
  host passes (signatures compared with the base class).
"""

from __future__ import annotations

from typing import Any, Iterable

from .contracts import BASES, signature_problems
from .manager import create_plugin_manager
from .registry import Catalog


def make_plugin_manager(*plugins: Any, entry_points: bool = False, block: Iterable[str] = ()):
    """A fresh plugin manager holding ``plugins`` (and the installed ones if ``entry_points``)."""
    return create_plugin_manager(entry_points=entry_points, plugins=plugins, block=block)


def check_plugin(plugin: Any) -> list[str]:
    """Problems with ``plugin``: hooks without specs, registered objects lacking members of
    their base class or whose methods' signatures do not match it.

    Returns a list of readable problems (empty when the plugin is fine).
    """
    import pluggy

    problems: list[str] = []
    try:
        pm = make_plugin_manager(plugin)
    except pluggy.PluginValidationError as exc:
        return [str(exc)]
    catalog = Catalog(pm)
    for category in BASES:
        try:
            items = list(catalog.items(category))
        except Exception as exc:  # noqa: BLE001 - reported as a problem
            problems.append(f"{category}: registering failed: {exc}")
            continue
        for name, impl in items:
            problems += [f"{category}: {name!r}: {p}" for p in signature_problems(category, impl)]
    return problems


try:  # the fixtures exist only when pytest is importable
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture
    def tf_plugin_manager():
        """Factory fixture: ``tf_plugin_manager(*plugins, entry_points=False)``."""
        made = []

        def factory(*plugins: Any, entry_points: bool = False, block: Iterable[str] = ()):
            pm = make_plugin_manager(*plugins, entry_points=entry_points, block=block)
            made.append(pm)
            return pm

        yield factory
        for pm in made:
            for plugin in list(pm.get_plugins()):
                pm.unregister(plugin)

    @pytest.fixture
    def tf_check_plugin():
        """``tf_check_plugin(plugin)`` fails the test with the plugin's problems, if any."""

        def check(plugin: Any) -> None:
            problems = check_plugin(plugin)
            assert not problems, "plugin problems:\n" + "\n".join(problems)

        return check
