"""BFCL's AST call matching, our offline fallback for the official checker (``bfcl-eval``).

It follows the rules of ``bfcl_eval.eval_checker.ast_eval.ast_checker`` (tested against it
on every record the package ships, when it is installed):

- parallel categories: as many calls as ground-truth entries; each entry, in order, takes
  the first unmatched call that matches it; ``multiple``: exactly one call, checked
  against the one entry; other (simple) categories: exactly one call, checked with the
  first function of the record;
- a call matches an entry when the function name is the entry's, every required parameter
  is given, every given parameter is declared and in the entry, each value has the declared
  type (Python: an int is taken for a float, a tuple for a list; an allowed value of a
  different type than the declared one, ``null`` or ``false`` in a string parameter, makes
  a value of that type acceptable, compared as is), and is allowed: strings compared
  without case, spaces and ``,./-_*^``, lists element-wise the same way, dicts key by key,
  lists of dicts in order; an omitted parameter must allow ``""``;
- Java and JavaScript values are strings in the language's syntax, converted by the
  declared type first (numbers, booleans, ``new int[]{...}``, ``new ArrayList<>(Arrays.asList(...))``,
  ``new HashMap<>() {{ put("k", v); }}``, JS array and object literals).

It never raises on odd ground truth (a nested-dict possible answer is simply not matched).
"""

from __future__ import annotations

import re
from typing import Any

PYTHON_TYPES = {"string": str, "integer": int, "float": float, "number": float, "boolean": bool,
                "array": list, "tuple": list, "dict": dict, "object": dict, "any": str}
JAVA_TYPES = {"byte": int, "short": int, "integer": int, "float": float, "double": float,
              "long": int, "boolean": bool, "char": str, "Array": list, "ArrayList": list,
              "Set": set, "HashMap": dict, "Hashtable": dict, "Queue": list, "Stack": list,
              "String": str, "any": str}
JS_TYPES = {"String": str, "integer": int, "float": float, "Bigint": int, "Boolean": bool,
            "dict": dict, "array": list, "any": str}
_NESTED = ("array", "tuple", "Array", "ArrayList")


def language_of(category: str) -> str:
    """``python``, ``java`` or ``javascript`` for a BFCL category name."""
    return "javascript" if "javascript" in category else "java" if "java" in category else "python"


def standardize(text: str) -> str:
    """BFCL's string normal form: no spaces or ``,./-_*^``, lowercase, ``'`` -> ``"``."""
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _items(option: Any) -> list:
    try:  # an allowed value iterated as the official checker does ("" -> [])
        return [option[i] for i in range(len(option))]
    except (TypeError, KeyError):
        return []


def _std(value: Any) -> Any:
    return standardize(value) if isinstance(value, str) else value


# --------------------------------------------------------------------------- type conversion

def _number_or_text(text: str) -> Any:
    """``text`` as an int, else a float, else unchanged (both languages' untyped literals)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _java_untyped(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if len(text) > 1 and text[0] == text[-1] == '"':
        return text[1:-1]
    if re.fullmatch(r"-?\d+[lL]", text):
        return int(text[:-1])
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]", text):
        return float(text[:-1])
    return _number_or_text(text)


def _java_scalar(text: str, kind: str | None) -> Any:
    if kind is None:
        return _java_untyped(text)
    if kind in ("byte", "short", "integer"):
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if kind == "float":
        return float(text[:-1]) if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]", text) else text
    if kind == "double":
        return float(text) if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", text) else text
    if kind == "long":
        return int(text[:-1]) if re.fullmatch(r"-?\d+[lL]", text) else text
    if kind == "boolean":
        return text == "true" if text in ("true", "false") else text
    return text  # String, char, any: the text itself


def java_value(text: str, kind: str, nested: str | None = None) -> Any:
    """A Java literal (as the model wrote it) -> the Python value BFCL compares."""
    if kind == "ArrayList":
        found = re.search(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", text)
        if found is None:
            return [] if re.search(r"new\s+ArrayList<\w*>\(\)", text) else text
        parts = [p.strip() for p in found.group(1).split(",")]
        # quoted elements lose their quotes, whatever they are
        return [p[1:-1] if nested in ("String", "char") else _java_scalar(p, nested) for p in parts]
    if kind == "Array":
        found = re.search(r"new\s+\w+\[\]\s*\{(.*?)\}", text)
        if found is None:
            return text
        return [_java_scalar(p.strip(), nested) for p in found.group(1).split(",") if p.strip()]
    if kind == "HashMap":
        found = re.search(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", text, re.DOTALL)
        if found is None:
            return {} if re.search(r"new\s+HashMap<.*?>\s*\(\)", text) else text
        return {k: _java_untyped(v.strip())
                for k, v in re.findall(r"put\(\"(.*?)\",\s*(.*?)\)", found.group(1))}
    return _java_scalar(text, kind)


def js_value(text: str, kind: str, nested: str | None = None) -> Any:
    """A JavaScript literal (as the model wrote it) -> the Python value BFCL compares."""
    if kind == "String":
        return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'" else text
    if kind == "integer":
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if kind == "float":
        return float(text) if re.fullmatch(r"-?\d+(\.\d+)?", text) else text
    if kind == "Bigint":
        return int(text[:-1]) if re.fullmatch(r"-?\d+n", text) else text
    if kind == "Boolean":
        return text == "true" if text in ("true", "false") else text
    if kind == "array":
        return _js_array(text.strip(), nested)
    if kind == "dict":
        return _js_dict(text.strip())
    return text


def _js_untyped(text: str) -> Any:
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return _number_or_text(text)


_JS_2D = r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)"
_JS_1D = r"\[(.*?)\]|\bnew\s+Array\((.*?)\)"


def _js_array(text: str, nested: str | None) -> Any:
    # BFCL reads arrays with regular expressions matched at the start (a trailing rest is ignored)
    grid = re.match(_JS_2D, text)
    if grid:
        rows = []
        for i, row in enumerate(re.findall(r"\[(.*?)\]", grid.group(0))):
            row = row.strip()
            row = row[1:] if i == 0 and row.startswith("[") else row
            rows.append([_js_untyped(e.strip()) for e in row.split(",")])
        return rows
    flat = re.match(_JS_1D, text)
    if not flat:
        return text
    inner = (flat.group(1) if flat.group(1) is not None else flat.group(2) or "").strip()
    parts = inner.split(",") if inner else []
    try:
        return [js_value(e.strip(), nested) if nested else _js_untyped(e.strip()) for e in parts]
    except (ValueError, TypeError):
        return text


def _js_dict(text: str) -> Any:
    if text == "{}":
        return {}
    found = re.match(r"\{(.*?)\}", text)
    if not found:
        return text
    out: dict[str, Any] = {}
    for key, value in re.findall(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", found.group(1)):
        key, value = key.strip().strip("'\""), value.strip()
        if value.startswith("[") and value.endswith("]"):
            out[key] = _js_array(value, None)
        elif value.startswith("{") and value.endswith("}"):
            out[key] = _js_dict(value)
        else:
            out[key] = _js_untyped(value.strip("'\""))
    return out


# --------------------------------------------------------------------------- value checks

def _type_ok(value: Any, allowed: list, declared: type, nested: type | None) -> tuple[bool, bool]:
    """``(valid, is_variable)``: BFCL's type check, one level of nesting."""
    answer_type = next((type(a) for a in allowed if a != ""), None)
    variable = answer_type is not None and answer_type is not declared
    if type(value) is declared:
        if nested is None:
            return True, variable
        for option in allowed:
            if type(option) is not list or all(_type_ok(v, option, nested, None)[0] for v in value):
                return True, variable
    if answer_type is not None and type(value) is answer_type:
        return True, True
    return False, variable


def _dict_ok(value: dict, options: list) -> bool:
    for option in options:
        if option == "" or not isinstance(option, dict):
            continue
        if any(k not in option for k in value):
            continue
        try:
            if any(_std(v) not in [_std(a) for a in _items(option[k])] for k, v in value.items()):
                continue
        except TypeError:  # unhashable comparisons are fine, an odd ground truth is not
            continue
        if all(k in value or "" in _items(v) for k, v in option.items()):
            return True
    return False


def _list_dict_ok(value: list, options: list) -> bool:
    for option in options:
        items = _items(option)
        if len(items) == len(value) and all(isinstance(v, dict) and _dict_ok(v, [o])
                                            for v, o in zip(value, items)):
            return True
    return False


def value_problem(param: str, value: Any, allowed: list, schema: dict, language: str) -> str | None:
    """Why ``value`` is not an allowed value of parameter ``param`` (or None)."""
    kind = schema.get("type")
    nested_kind = (schema.get("items") or {}).get("type") if kind in _NESTED else None
    table = {"python": PYTHON_TYPES, "java": JAVA_TYPES, "javascript": JS_TYPES}[language]
    declared = table.get(kind, str)
    nested = table.get(nested_kind, str) if nested_kind else None
    if language != "python":
        if not isinstance(value, str):
            return f"parameter {param!r}: wrong type {type(value).__name__} (expected a {language} literal string)"
        value = (java_value if language == "java" else js_value)(value, kind, nested_kind)
    elif kind == "tuple" and isinstance(value, tuple):
        value = list(value)
    elif kind == "float" and type(value) is int:
        value = float(value)
    ok, variable = _type_ok(value, allowed, declared, nested)
    if not ok:
        return f"parameter {param!r}: wrong type {type(value).__name__}"
    if not variable:
        if declared is dict:
            return None if isinstance(value, dict) and _dict_ok(value, allowed) else \
                f"parameter {param!r}: value {value!r} not allowed"
        if declared is list and nested is dict:
            return None if _list_dict_ok(value, allowed) else f"parameter {param!r}: value {value!r} not allowed"
        if declared is str:
            ok = standardize(value) in [standardize(a) for a in allowed if isinstance(a, str)]
            return None if ok else f"parameter {param!r}: value {value!r} not allowed"
        if declared is list:
            ok = [_std(v) for v in value] in [[_std(x) for x in _items(a)] for a in allowed]
            return None if ok else f"parameter {param!r}: value {value!r} not allowed"
    try:
        ok = value in allowed
    except TypeError:
        ok = False
    return None if ok else f"parameter {param!r}: value {value!r} not allowed"


def call_problem(call: dict, truth: dict, function: dict | None, language: str = "python") -> str | None:
    """Why ``call`` ({name: args}) does not match ``truth`` ({name: {param: allowed}}), or None."""
    if not isinstance(truth, dict) or len(truth) != 1 or not isinstance(call, dict) or len(call) != 1:
        return "not one function per call"
    (name, allowed), = truth.items()
    if name not in call:
        return f"wrong function {next(iter(call))!r} (expected {name!r})"
    args = call[name]
    if not isinstance(args, dict) or not isinstance(allowed, dict):
        return "arguments are not an object"
    if not isinstance(function, dict):
        return f"no description of function {name!r}"
    params = function.get("parameters") or {}
    props = params.get("properties") or {}
    for req in params.get("required") or []:
        if req not in args:
            return f"missing required parameter {req!r}"
    for key, value in args.items():
        if key not in props or key not in allowed:
            return f"unexpected parameter {key!r}"
        options = allowed[key] if isinstance(allowed[key], list) else [allowed[key]]
        problem = value_problem(key, value, options, props[key] if isinstance(props[key], dict) else {},
                                language)
        if problem:
            return problem
    for key, options in allowed.items():
        if key not in args and "" not in _items(options):
            return f"missing parameter {key!r}"
    return None


def check(functions: list[dict], calls: list[dict], truth: list[dict], category: str) -> dict[str, Any]:
    """``{"valid": bool, "error": str | None}`` for the predicted ``calls`` of one record."""
    language = language_of(category)
    by_name = {f.get("name"): f for f in functions if isinstance(f, dict)}
    if "parallel" in category or "multiple" in category:
        if len(calls) != len(truth):
            return {"valid": False, "error": f"expected {len(truth)} calls, got {len(calls)}"}
        if "parallel" not in category:
            return _verdict(call_problem(calls[0], truth[0], _described(by_name, truth[0]), language))
        used: set[int] = set()
        for entry in truth:
            described = _described(by_name, entry)
            match = next((i for i, c in enumerate(calls)
                          if i not in used and call_problem(c, entry, described, language) is None), None)
            if match is None:
                return {"valid": False, "error": f"no call matches {next(iter(entry), '?')!r}"}
            used.add(match)
        return {"valid": True, "error": None}
    if len(calls) != 1 or not truth:
        return {"valid": False, "error": f"expected 1 call, got {len(calls)}"}
    return _verdict(call_problem(calls[0], truth[0], functions[0] if functions else None, language))


def _described(by_name: dict, entry: Any) -> dict | None:
    return by_name.get(next(iter(entry), None)) if isinstance(entry, dict) and entry else None


def _verdict(problem: str | None) -> dict[str, Any]:
    return {"valid": problem is None, "error": problem}
