"""API for ``toolfeedback plugins``."""

from __future__ import annotations

from .manager import PluginInfo, create_plugin_manager, plugin_infos


def list_plugins(pm=None) -> list[PluginInfo]:
    """Every loaded plugin with its distribution, version and hooks."""
    return plugin_infos(pm if pm is not None else create_plugin_manager())
