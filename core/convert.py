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
    lines = cattrs.transform_error(exc, path=path)
    # cattrs says "required field missing @ $.x"; turn it into "$.x: missing".
    out = []
    for line in lines:
        msg, _, where = line.rpartition(" @ ")
        if not msg:
            out.append(line)
            continue
        msg = "missing" if msg == "required field missing" else msg
        out.append(f"{where}: {msg}")
    return out


def structure(obj: Any, cls: type[T], *, path: str = "$") -> T:
    """Structure ``obj`` into ``cls``; raises ``ValueError`` with readable lines on failure."""
    try:
        return converter.structure(obj, cls)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            raise ValueError("; ".join(describe_error(exc, path))) from None
        raise ValueError(f"{path}: {exc}") from None


def unstructure(obj: Any) -> Any:
    """attrs instance -> plain JSON-ready data."""
    return converter.unstructure(obj)
