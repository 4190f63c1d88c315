"""attrs validators for config and options classes: each names its field when it fails.

Use them as ``field(default=1, validator=at_least(1))``. A failure raises
:class:`~toolfeedback.errors.FieldError`; structured through the converter it reads
``$.train.per_device_batch_size: must be at least 1``, and every failing field of one
class is reported, not only the first (:func:`field_problems`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import attrs

from .errors import FieldError

Validator = Callable[[Any, "attrs.Attribute", Any], None]


def _check(test: Callable[[Any], bool], message: str) -> Validator:
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and not test(value):  # None: "not given", the default decides
            raise FieldError(attribute.name, message)

    validate.__doc__ = message
    return validate


def at_least(low: float, hint: str = "") -> Validator:
    """``value >= low`` (``None`` passes: it means "the default")."""
    return _check(lambda v: v >= low, f"must be at least {low}{hint}")


def positive() -> Validator:
    """``value > 0``."""
    return _check(lambda v: v > 0, "must be positive")


def non_negative(hint: str = "") -> Validator:
    """``value >= 0``."""
    return _check(lambda v: v >= 0, f"must be 0 or more{hint}")


def in_range(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Validator:
    """``low <= value <= high``; ``low_open`` / ``high_open`` exclude the bound."""
    text = f"must be in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def test(v: Any) -> bool:
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

    return _check(test, text)


def one_of(choices: Iterable[str]) -> Validator:
    """``value in choices``."""
    known = tuple(choices)
    return _check(lambda v: v in known, f"expected one of {', '.join(map(repr, known))}")


def field_problems(instance: Any) -> list[tuple[str, str]]:
    """``(field, message)`` of every field of an attrs ``instance`` whose validator fails."""
    problems = []
    for attribute in attrs.fields(type(instance)):
        if attribute.validator is None:
            continue
        try:
            attribute.validator(instance, attribute, getattr(instance, attribute.name))
        except FieldError as exc:
            problems.append((exc.field, exc.detail))
    return problems
