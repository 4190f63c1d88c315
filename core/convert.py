"""The one cattrs converter at the edge: JSON-ready dicts <-> attrs classes.

Unknown keys are rejected and errors read like ``$.tools[2].name: missing``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import make_converter

T = TypeVar("T")


def _make() -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=True, omit_if_default=False)
    return conv


converter = _make()


def describe_error(exc: BaseException, path: str = "$") -> list[str]:
    """Readable lines (``$.a.b: message``) for a cattrs structuring error."""
    from .errors import FieldError

    def fmt(error: BaseException, type_: Any) -> str:
        if isinstance(error, FieldError):  # a nested class's validator: "$.a.field: ..."
            return f"\0{error.field}\0{error.detail}"
        return cattrs.v.format_exception(error, type_)

    lines = cattrs.transform_error(exc, path=path, format_exception=fmt)
    # cattrs says "required field missing @ $.x"; turn it into "$.x: missing".
    out = []
    for line in lines:
        msg, _, where = line.rpartition(" @ ")
        if not msg:
            out.append(line)
            continue
        msg = "missing" if msg == "required field missing" else msg
        if msg.startswith("\0"):
            _, name, msg = msg.split("\0", 2)
            where = f"{where}.{name}"
        out.append(f"{where}: {msg}")
    return out


def structure(obj: Any, cls: type[T], *, path: str = "$") -> T:
    """Structure ``obj`` into ``cls``; raises ``ValueError`` with readable lines on failure.

    A field validator's :class:`~toolfeedback.errors.FieldError` becomes
    ``$.path.field: message``, listing every failing field of the class.
    """
    from .errors import FieldError

    try:
        return converter.structure(obj, cls)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
        first = exc if isinstance(exc, FieldError) else next(
            (e for e in getattr(exc, "exceptions", ()) if isinstance(e, FieldError)), None)
        if first is not None:  # a validator of cls itself: name every failing field
            raise ValueError("; ".join(f"{path}.{name}: {message}"
                                       for name, message in _all_field_problems(obj, cls, first))) from None
        if isinstance(exc, cattrs.BaseValidationError):
            raise ValueError("; ".join(describe_error(exc, path))) from None
        raise ValueError(f"{path}: {exc}") from None


def _all_field_problems(obj: Any, cls: type, first) -> list[tuple[str, str]]:
    # attrs stops at the first failing validator; build once without them to list them all.
    import attrs

    from .checks import field_problems

    with attrs.validators.disabled():
        try:
            instance = converter.structure(obj, cls)
        except Exception:  # noqa: BLE001 - a cross-field check in __attrs_post_init__
            return [(first.field, first.detail)]
    return field_problems(instance) or [(first.field, first.detail)]


def unstructure(obj: Any) -> Any:
    """attrs instance -> plain JSON-ready data."""
    return converter.unstructure(obj)
