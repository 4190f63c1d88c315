"""The calls a perfect model makes on a BFCL record, written as a model writes them
(Python values, or Java / JavaScript literals for those categories): the oracle of the
BFCL tests and of anyone checking a harness end to end."""

from __future__ import annotations

import json
from typing import Any

from toolfeedback.contrib import bfcl_checker


def _java_literal(value: Any, kind: str | None, nested: str | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "long" and isinstance(value, int):
        return f"{value}L"
    if kind == "float" and isinstance(value, (int, float)):
        return f"{float(value)}f"
    if kind == "Array" and isinstance(value, list):
        element = {"integer": "int", "String": "String", "boolean": "boolean", "long": "long",
                   "double": "double", "float": "float"}.get(nested or "", "Object")
        return f"new {element}[]{{{', '.join(_java_literal(v, nested) for v in value)}}}"
    if kind == "ArrayList" and isinstance(value, list):
        inner = ", ".join(f'"{v}"' if nested in ("String", "char") else _java_literal(v, nested)
                          for v in value)
        return f"new ArrayList<>(Arrays.asList({inner}))"
    if kind == "HashMap" and isinstance(value, dict):
        puts = " ".join(f'put("{k}", {_java_literal(v, None)});' for k, v in value.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    if kind is None and isinstance(value, str):
        return f'"{value}"'
    return str(value)


def literal(value: Any, schema: dict, language: str) -> Any:
    """``value`` as a model writes it for a parameter of ``schema`` in ``language``
    (Python: the value itself; Java / JavaScript: a string in the language's syntax)."""
    if language == "python":
        return value
    kind = schema.get("type")
    nested = (schema.get("items") or {}).get("type")
    if language == "java":
        return _java_literal(value, kind, nested)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _gold_value(option: Any) -> Any:
    """An allowed value with nested possible answers (dict key -> allowed list) collapsed
    to their first choice, keys that may be left out left out."""
    if isinstance(option, dict):
        return {k: _gold_value(next((x for x in v if x != ""), v[0]) if isinstance(v, list) and v else v)
                for k, v in option.items() if not (isinstance(v, list) and "" in v)}
    if isinstance(option, list) and any(isinstance(x, dict) for x in option):
        return [_gold_value(x) for x in option]
    return option


def gold_calls(functions: list[dict], truth: list[dict], category: str) -> list[dict]:
    """The calls a perfect model makes: for every parameter that is required or may not
    be left out, its first allowed value (nested possible answers collapsed likewise)."""
    language = bfcl_checker.language_of(category)
    by_name = {f.get("name"): f for f in functions if isinstance(f, dict)}
    calls = []
    for entry in truth:
        (name, allowed), = entry.items()
        params = (by_name.get(name) or {}).get("parameters") or {}
        props, required = params.get("properties") or {}, params.get("required") or []
        args = {}
        for key, values in allowed.items():
            if not isinstance(values, list) or not values or ("" in values and key not in required):
                continue
            value = next((v for v in values if v != ""), values[0])
            args[key] = literal(_gold_value(value), props.get(key) or {}, language)
        calls.append({name: args})
    return calls
