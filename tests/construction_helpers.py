"""Shared helpers of the construction tests: a plugin manager with just the built-ins they need."""

from __future__ import annotations

import json

from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugins import build_verbs, procedural_source, procedural_stages, source_ftrl

BUILTINS = (procedural_source, procedural_stages, source_ftrl, build_verbs)


def make_pm(*extra):
    """A plugin manager with the construction built-ins and ``extra`` plugins, no entry points."""
    return create_plugin_manager(entry_points=False, plugins=(*BUILTINS, *extra))


def read_records(path):
    """Every JSON line of ``path``."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
