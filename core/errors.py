"""Exceptions with messages meant for users (the CLI prints them without a traceback)."""

from __future__ import annotations


class ToolfeedbackError(Exception):
    """Base class: anything the CLI reports as ``error: <message>`` and exit status 2."""


class PluginError(ToolfeedbackError):
    """A plugin could not be loaded, or two plugins registered the same name."""


class UnknownNameError(ToolfeedbackError, KeyError):
    """A name (reward, backend, stage, ...) that no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(ToolfeedbackError):
    """A configuration file or flag is invalid; the message names the key path."""


class InputError(ToolfeedbackError):
    """A record in an input file is invalid; the message names file, line and field.

    Attributes ``path``, ``line`` (1-based) and ``field`` (a ``$``-path) say where.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field, self.detail = path, line, field, message
        where = ":".join(str(p) for p in (path, line) if p is not None)
        text = message if not field else f"{field}: {message}"
        super().__init__(f"{where}: {text}" if where else text)


class FieldError(ConfigError, ValueError):
    """One field of a config or options class holds a value that cannot work.

    Raised by the attrs validators of :mod:`toolfeedback.checks`; the converter turns it
    into ``$.train.lr: must be positive`` (``field`` is the attribute's name).
    """

    def __init__(self, field: str, message: str):
        self.field, self.detail = field, message
        super().__init__(f"{field}: {message}")
