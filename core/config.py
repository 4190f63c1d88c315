"""Configuration: frozen attrs classes loaded from TOML through the one cattrs converter.

Unknown keys are rejected with their path (``$.train.lr: extra key``); CLI flags override
file values. Each config class documents its fields with ``metadata={"help": ...}`` so
``--help`` and docs can show them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, TypeVar

import attrs

from .convert import structure, unstructure
from .errors import ConfigError
from .plugin_options import options_field, plugin_fields, split_plugin_tables

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

C = TypeVar("C")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; errors name the file."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, path: str = "$",
                     source: str | None = None) -> C:
    """Structure ``data`` into ``cls``; unknown keys and bad types raise :class:`ConfigError`."""
    try:
        return structure(dict(data), cls, path=path)
    except ValueError as exc:
        prefix = f"{source}: " if source else ""
        raise ConfigError(f"{prefix}{exc}") from None


def load_config(cls: type[C], path: str | Path | None = None, *, section: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> C:
    """Build ``cls`` from defaults, then the TOML file (``[section]`` if given), then overrides.

    ``overrides`` holds CLI flag values; ``None`` values mean "flag not given" and are ignored.
    A plugin's table (``[train.algorithm]`` with ``name`` and options) fills the plugin
    field and its ``<field>_options`` (:mod:`toolfeedback.plugin_options`).
    """
    data: dict[str, Any] = {}
    where = "$"
    if path is not None:
        raw = load_toml(path)
        if section is not None:
            if section not in raw:  # a config for another verb, most likely
                tables = ", ".join(f"[{k}]" for k, v in raw.items() if isinstance(v, dict)) or "none"
                raise ConfigError(f"{path}: no [{section}] table (tables found: {tables})")
            raw = raw[section]
            where = f"$.{section}"
            if not isinstance(raw, dict):
                raise ConfigError(f"{path}: {where}: expected a table")
        data.update(raw)
    data = split_plugin_tables(cls, data)
    option_dicts = {options_field(f.name) for f in plugin_fields(cls)}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in option_dicts and isinstance(data.get(key), dict):
            value = {**data[key], **value}  # a flag overrides one option, not the table
        data[key] = value
    return config_from_dict(cls, data, path=where, source=str(path) if path else None)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config instance as plain data (for saving next to outputs)."""
    return unstructure(config)


def field_help(cls: type) -> dict[str, str]:
    """``{field name: help text}`` of an attrs config class."""
    return {f.name: f.metadata.get("help", "") for f in attrs.fields(cls)}
