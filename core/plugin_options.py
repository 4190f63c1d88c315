"""Plugin options: a registered object's own frozen attrs ``Options`` class, filled from its
TOML table and ``--<role>-option KEY=VALUE`` flags through the one converter.

A verb config names a plugin in a field marked ``metadata={"plugin": "<category>"}``
(``TrainConfig.algorithm``) and keeps the raw values for it in the companion field
``<field>_options`` (a dict). In TOML the plugin's table holds its name and its options::

    [train.algorithm]
    name = "grpo"
    epsilon = 0.28

The plugin receives only what its ``Options`` class declares, structured and validated
(``$.train.algorithm.epsilon: ...`` on error). A plugin without ``Options`` takes no
options: giving it some is an error.
"""

from __future__ import annotations

import json
import typing
from typing import Any, Iterable, Mapping

import attrs

from .errors import ConfigError


def options_class(impl: Any) -> type | None:
    """The ``Options`` attrs class ``impl`` declares, or ``None``."""
    cls = getattr(impl, "Options", None)
    if cls is None:
        return None
    if not attrs.has(cls):
        raise ConfigError(f"{getattr(impl, 'name', impl)!r}: Options must be an attrs class")
    return cls


def plugin_fields(cls: type) -> list[attrs.Attribute]:
    """The fields of a verb config class that name a plugin (``metadata["plugin"]``)."""
    return [f for f in attrs.fields(cls) if f.metadata.get("plugin")]


def options_field(name: str) -> str:
    """The companion field holding the raw options of plugin field ``name``."""
    return f"{name}_options"


def split_plugin_tables(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{"algorithm": {"name": "grpo", "k": v}}`` into ``algorithm`` + ``algorithm_options``.

    A plain string stays the plugin's name; a table without ``name`` keeps the default one.
    """
    out = dict(data)
    for f in plugin_fields(cls):
        value = out.get(f.name)
        if isinstance(value, Mapping):
            table = dict(value)
            name = table.pop("name", None)
            if name is None:
                out.pop(f.name)
            else:
                out[f.name] = name
            key = options_field(f.name)
            merged = dict(out.get(key) or {})
            merged.update(table)
            out[key] = merged
    return out


def parse_option_items(items: Iterable[str], flag: str) -> dict[str, Any]:
    """``["k=v", ...]`` from a repeatable flag -> ``{k: v}``; ``v`` is JSON, else text;
    ``-`` in a key reads as ``_``."""
    options: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")  # option names are identifiers: lr-scheduler = lr_scheduler
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _is_sequence(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_is_sequence(a) for a in typing.get_args(tp) if a is not type(None))
    return origin in (tuple, list, frozenset, set)


def resolve_options(impl: Any, values: Mapping[str, Any] | None, *, path: str,
                    hints: Mapping[str, Any] | None = None) -> Any:
    """``impl.Options`` built from ``values`` (errors say ``{path}.key: ...``), or ``None``.

    ``hints`` are values a verb offers every plugin of a role (eval's ``batch_size`` to
    backends); each reaches the plugin only if its ``Options`` declares that field, and
    ``values`` win over them. A comma-separated string given for a list field is split.
    """
    from .convert import structure

    cls = options_class(impl)
    values = dict(values or {})
    name = getattr(impl, "name", type(impl).__name__)
    if cls is None:
        if values:
            raise ConfigError(f"{path}: {name!r} takes no options (got: {', '.join(sorted(values))})")
        return None
    fields = {f.name: f for f in attrs.fields(cls)}
    types = typing.get_type_hints(cls)
    for key, value in list(values.items()):
        if isinstance(value, str) and key in fields and _is_sequence(types.get(key)):
            values[key] = [part.strip() for part in value.split(",") if part.strip()]
    data = declared(impl, hints or {})
    data.update(values)
    try:
        return structure(data, cls, path=path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def declared(impl: Any, hints: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``hints`` (not ``None``) that ``impl``'s ``Options`` declares."""
    cls = options_class(impl)
    names = {f.name for f in attrs.fields(cls)} if cls is not None else set()
    return {k: v for k, v in hints.items() if k in names and v is not None}


def option_help(impl: Any) -> list[str]:
    """``key (type, default): help`` lines of ``impl``'s options, for ``toolfeedback plugins``."""
    cls = options_class(impl)
    if cls is None:
        return []
    types = typing.get_type_hints(cls)
    lines = []
    for f in attrs.fields(cls):
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        kind = getattr(types.get(f.name), "__name__", None) or str(types.get(f.name))
        lines.append(f"{f.name} ({kind}, default {default!r}): {f.metadata.get('help', '')}")
    return lines
