"""The one place that turns a config class into CLI flags, and parsed flags back into values.

Every verb with a config class calls :func:`add_config_flags` in ``add_arguments`` and
:func:`load_from_args` in ``run``. A field becomes ``--field-name`` typed from its
annotation (``int | None`` parses an int), with its ``metadata["help"]`` and the real
default in the help; every flag defaults to ``None`` so only the flags given override
``--config FILE``. Field metadata may say:

- ``flag``: the flag's name when it is not ``--field-name`` (``--batch-size``); for a
  bool that defaults to true, the flag that sets it false (``--no-resume``, ``--quiet``);
- ``metavar``, ``choices``; ``cli: False`` to leave the field out;
- ``plugin: "<category>"``: the field names a plugin; ``--<field>-option KEY=VALUE``
  (``option_flag`` to rename) fills its ``<field>_options`` (see :mod:`toolfeedback.plugin_options`).

Lists and tuples are given comma-separated (``--patterns a,b``); a dict field is filled by
a repeatable ``--<field>-option KEY=VALUE`` (``flag`` to rename).
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

import attrs

from .plugin_options import options_field, parse_option_items, plugin_fields

_METAVARS = {int: "N", float: "X", str: "TEXT"}


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``(inner type, is_sequence)`` of an annotation, ``Optional`` removed."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        return str, False
    if origin in (tuple, list, frozenset, set):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return (args[0] if args else str), True
    return tp, False


def _is_dict(tp: Any) -> bool:
    return tp is dict or typing.get_origin(tp) is dict


def _default(f: attrs.Attribute) -> Any:
    if isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
        return f.default.factory()  # type: ignore[union-attr]
    return f.default


def _shown(value: Any) -> str | None:
    if value in (None, "", (), []) or value is attrs.NOTHING:
        return None
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def flag_fields(cls: type) -> list[attrs.Attribute]:
    """Fields of ``cls`` that get a flag of their own (not ``cli: False``, not option dicts)."""
    option_dicts = {options_field(f.name) for f in plugin_fields(cls)}
    return [f for f in attrs.fields(cls) if f.metadata.get("cli", True) and f.name not in option_dicts]


def option_flag(f: attrs.Attribute) -> str:
    """The ``--<role>-option`` flag of plugin field ``f``."""
    return f.metadata.get("option_flag") or f"--{f.name.replace('_', '-')}-option"


def add_config_flags(parser: argparse.ArgumentParser, cls: type, *, section: str | None = None,
                     config_help: str | None = None) -> None:
    """``--config FILE`` (when ``section``) and one flag per field of ``cls``."""
    hints = typing.get_type_hints(cls)
    if section is not None:
        parser.add_argument("--config", metavar="FILE", default=None,
                            help=config_help
                            or f"TOML file whose [{section}] table sets these (flags given win)")
    for f in flag_fields(cls):
        help_text = f.metadata.get("help", "")
        default = _default(f)
        if _is_dict(hints.get(f.name)):
            parser.add_argument(f.metadata.get("flag") or option_flag(f), dest=f.name, action="append",
                                metavar="KEY=VALUE", default=[],
                                help=f"{help_text}; repeatable, VALUE is JSON or text")
            continue
        inner, is_seq = _unwrap(hints.get(f.name, str))
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        if inner is bool and not is_seq:
            action = "store_false" if default is True else "store_true"
            if default is True and not f.metadata.get("flag"):
                flag = "--no-" + f.name.replace("_", "-")
                help_text = f"switch off (on by default): {help_text}"
            parser.add_argument(flag, dest=f.name, action=action, default=None, help=help_text)
            continue
        shown = _shown(default)
        if shown is not None and "default" not in help_text.lower():
            help_text = f"{help_text} (default: {shown})"
        if is_seq:
            help_text += " (comma-separated)"
        kind = str if is_seq or inner not in (int, float, str) else inner
        metavar = f.metadata.get("metavar") or ("A,B" if is_seq else _METAVARS.get(kind, "VALUE"))
        if f.metadata.get("choices"):
            metavar = None  # argparse shows {a,b}
        parser.add_argument(flag, dest=f.name, type=kind, default=None, metavar=metavar,
                            choices=f.metadata.get("choices"), help=help_text)
    for f in plugin_fields(cls):
        noun = f.metadata["plugin"].rstrip("s").replace("_", " ")
        table = f"[{section}.{f.name}]" if section else "its table"
        parser.add_argument(option_flag(f), dest=options_field(f.name), action="append",
                            metavar="KEY=VALUE", default=[],
                            help=f"an option of the chosen {noun}, repeatable; VALUE is JSON or "
                                 f"text; overrides {table} of --config (`toolfeedback plugins "
                                 f"--options` lists each plugin's)")


def overrides_from_args(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """Field values given on the command line (``None``: not given)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in flag_fields(cls):
        value = getattr(args, f.name, None)
        if _is_dict(hints.get(f.name)):
            flag = f.metadata.get("flag") or option_flag(f)
            out[f.name] = parse_option_items(value or (), flag) or None
            continue
        _, is_seq = _unwrap(hints.get(f.name, str))
        if is_seq and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        out[f.name] = value
    for f in plugin_fields(cls):
        given = parse_option_items(getattr(args, options_field(f.name), None) or (), option_flag(f))
        out[options_field(f.name)] = given or None
    return out


def load_from_args(cls: type, args: argparse.Namespace, *, section: str,
                   extra: dict[str, Any] | None = None, pm: Any = None) -> Any:
    """``cls`` from its defaults, ``[section]`` of ``args.config``, then the flags given.

    With ``pm``, the chosen plugins' options are checked at once (:func:`check_plugin_options`).
    """
    from .config import load_config

    overrides = overrides_from_args(args, cls)
    overrides.update(extra or {})
    path = getattr(args, "config", None)
    config = load_config(cls, path, section=section if path else None, overrides=overrides)
    if pm is not None:
        check_plugin_options(config, pm, section=section, source=path)
    return config


def check_plugin_options(config: Any, pm: Any, *, section: str, source: str | None = None) -> None:
    """Resolve the options of every plugin field of ``config`` now, before any long work;
    an error names the config file (``run.toml: $.train.algorithm.clip: ...``)."""
    from .errors import ConfigError
    from .plugin_options import resolve_options
    from .registry import Catalog

    catalog = Catalog(pm)
    for f in plugin_fields(type(config)):
        values = getattr(config, options_field(f.name))
        if not values or f.metadata["plugin"] == "stages":  # stages: one table for several plugins
            continue
        impl = catalog.get(f.metadata["plugin"], getattr(config, f.name))
        try:
            resolve_options(impl, values, path=f"$.{section}.{f.name}")
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None
