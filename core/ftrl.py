"""The FTRL release format (one JSON object per line) <-> :class:`~toolfeedback.types.Environment`.

Released fields: ``messages``, ``tools`` (JSON string), ``codes`` (JSON string),
``unsolved_set`` (JSON string), ``solve_rate``, ``answer``, ``data_source``, ``split``.
Ours, kept alongside: ``id``, ``pattern``, ``golden``, ``metadata``. Any other field is
kept verbatim and written back. A record read and written back unchanged is the same text
(with ``json.dumps(..., ensure_ascii=False)``, the release's own writer): the key order,
the original text of the JSON-string fields nothing changed, and no ``id`` or defaults
added where the record had none.

Tool code must run under the release's executor too (``call_function``: ``exec(code)``
inside a function, then ``eval(name)``): there, module-level names of the code are not
visible inside the function. :func:`self_contained` moves them into the function body;
:func:`release_call` runs a tool exactly that way, for tests and checks.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
from typing import Any

from .types import Environment, Pattern, ToolCall, ToolSpec
from .pysource import parse as parse_source

RELEASE_FIELDS = ("messages", "tools", "codes", "unsolved_set", "solve_rate", "answer",
                  "data_source", "split")
OUR_FIELDS = ("id", "pattern", "golden", "metadata")
EXTRA_KEY = "ftrl_extra"
TEXT_KEY = "ftrl_text"  # metadata entry: the record's key order and JSON-string field texts
_TEXT_FIELDS = ("tools", "codes", "unsolved_set")
_DEFAULTS = {"solve_rate": 0.0, "answer": "", "data_source": "", "split": "train"}


class FieldError(ValueError):
    """A record field is invalid; ``str()`` is ``$.path: message``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")


def _json_field(record: dict, key: str, kind: type) -> Any:
    if key not in record:
        raise FieldError(f"$.{key}", "missing")
    value = record[key]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise FieldError(f"$.{key}", f"not a JSON string ({exc.msg})") from None
    if not isinstance(value, kind):
        raise FieldError(f"$.{key}", f"expected a JSON {kind.__name__}")
    return value


def parse_tools(raw: list) -> tuple[ToolSpec, ...]:
    """Validate a list of OpenAI tool schemas (errors name ``$.tools[i].function.name``)."""
    specs = []
    for i, tool in enumerate(raw):
        where = f"$.tools[{i}]"
        if not isinstance(tool, dict):
            raise FieldError(where, "expected an object")
        fn = tool.get("function", tool)
        fwhere = f"{where}.function" if "function" in tool else where
        if not isinstance(fn, dict):
            raise FieldError(fwhere, "expected an object")
        if "name" not in fn:
            raise FieldError(f"{fwhere}.name", "missing")
        if not isinstance(fn["name"], str) or not fn["name"]:
            raise FieldError(f"{fwhere}.name", "expected a non-empty string")
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise FieldError(f"{fwhere}.parameters", "expected an object")
        desc = fn.get("description", "")
        if desc is not None and not isinstance(desc, str):
            raise FieldError(f"{fwhere}.description", "expected a string")
        specs.append(ToolSpec.from_openai(tool))
    return tuple(specs)


def parse_golden(raw: Any) -> tuple[tuple[ToolCall, ...], ...]:
    """``[[{"name", "arguments"}, ...], ...]`` -> steps of :class:`ToolCall`."""
    if not isinstance(raw, list):
        raise FieldError("$.golden", "expected a list of steps")
    steps = []
    for i, step in enumerate(raw):
        if not isinstance(step, list):
            raise FieldError(f"$.golden[{i}]", "expected a list of calls")
        calls = []
        for j, call in enumerate(step):
            where = f"$.golden[{i}][{j}]"
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise FieldError(f"{where}.name", "missing")
            args = call.get("arguments", {})
            if not isinstance(args, dict):
                raise FieldError(f"{where}.arguments", "expected an object")
            calls.append(ToolCall(name=call["name"], arguments=args, id=call.get("id")))
        steps.append(tuple(calls))
    return tuple(steps)


def record_id(record: dict) -> str:
    """A stable id for a record that has none: a hash of its messages and tools."""
    digest = hashlib.sha1(json.dumps([record.get("messages"), record.get("tools"),
                                      record.get("answer")], sort_keys=True,
                                     ensure_ascii=False).encode()).hexdigest()
    return f"ftrl-{digest[:16]}"


def from_record(record: Any) -> Environment:
    """Parse one FTRL-format record; raises :class:`FieldError` naming the bad field."""
    if not isinstance(record, dict):
        raise FieldError("$", "expected a JSON object")
    messages = record.get("messages")
    if not isinstance(messages, list):
        raise FieldError("$.messages", "missing" if messages is None else "expected a list")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise FieldError(f"$.messages[{i}].role", "missing")
    tools = parse_tools(_json_field(record, "tools", list))
    codes = _json_field(record, "codes", dict)
    for name, code in codes.items():
        if not isinstance(code, str):
            raise FieldError(f"$.codes.{name}", "expected Python source as a string")
    unsolved_raw = _json_field(record, "unsolved_set", dict)
    unsolved = {}
    for name, answers in unsolved_raw.items():
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise FieldError(f"$.unsolved_set.{name}", "expected a list of strings")
        unsolved[name] = tuple(answers)
    solve_rate = record.get("solve_rate", 0.0)
    if isinstance(solve_rate, bool) or not isinstance(solve_rate, (int, float)):
        raise FieldError("$.solve_rate", "expected a number")
    if not 0 <= solve_rate <= 1:  # a share of the answers (NaN fails too)
        raise FieldError("$.solve_rate", "expected a number in [0, 1]")
    for key in ("data_source", "split"):
        if not isinstance(record.get(key, ""), (str, type(None))):
            raise FieldError(f"$.{key}", "expected a string")
    answer = record.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise FieldError("$.answer", "expected a string")
    pattern = record.get("pattern")
    if pattern is not None:
        try:
            pattern = Pattern(pattern)
        except ValueError:
            raise FieldError("$.pattern", f"unknown pattern {pattern!r}; expected one of "
                             + ", ".join(p.value for p in Pattern)) from None
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise FieldError("$.metadata", "expected an object")
    extra = {k: v for k, v in record.items() if k not in RELEASE_FIELDS and k not in OUR_FIELDS}
    if extra:
        metadata = {**metadata, EXTRA_KEY: extra}
    env_id = record.get("id")
    if env_id is not None and not isinstance(env_id, str):
        raise FieldError("$.id", "expected a string")
    env_id = env_id or record_id(record)
    metadata = {**metadata, TEXT_KEY: {"keys": list(record),
                                       **{k: record[k] for k in _TEXT_FIELDS
                                          if isinstance(record[k], str)}}}
    return Environment(
        id=env_id,
        messages=tuple(messages),
        tools=tools,
        codes=codes,
        unsolved=unsolved,
        answer=answer if answer is not None else "",
        pattern=pattern,
        golden=parse_golden(record["golden"]) if record.get("golden") is not None else (),
        source=record.get("data_source", "") or "",
        split=record.get("split", "train") or "train",
        solve_rate=solve_rate,
        metadata=metadata,
    )


def _unchanged(key: str, text: str, env: Environment) -> bool:
    try:
        value = json.loads(text)
        if key == "tools":
            return parse_tools(value) == env.tools
        if key == "codes":
            return value == env.codes
        return {k: tuple(v) for k, v in value.items()} == dict(env.unsolved)
    except (ValueError, TypeError, AttributeError):
        return False


def to_record(env: Environment) -> dict[str, Any]:
    """Serialize to the FTRL release format plus our fields (JSON strings where the release
    has them); a record read by :func:`from_record` and not changed comes back as it was."""
    metadata = dict(env.metadata)
    extra = metadata.pop(EXTRA_KEY, {})
    text = metadata.pop(TEXT_KEY, None) or {}
    record: dict[str, Any] = {
        "messages": list(env.messages),
        "tools": json.dumps([t.to_openai() for t in env.tools], ensure_ascii=False),
        "codes": json.dumps(env.codes, ensure_ascii=False),
        "unsolved_set": json.dumps({k: list(v) for k, v in env.unsolved.items()}, ensure_ascii=False),
        "solve_rate": env.solve_rate,
        "answer": env.answer,
        "data_source": env.source,
        "split": env.split,
        "id": env.id,
    }
    if env.pattern is not None:
        record["pattern"] = env.pattern.value
    if env.golden:
        record["golden"] = [[{"name": c.name, "arguments": c.arguments} for c in step]
                            for step in env.golden]
    if metadata:
        record["metadata"] = metadata
    record.update(extra)
    if not text:
        return record
    for key in _TEXT_FIELDS:  # the original text of what nothing changed
        if isinstance(text.get(key), str) and _unchanged(key, text[key], env):
            record[key] = text[key]
    keys = text.get("keys") or []
    for key in [k for k in record if k not in keys and k in _DEFAULTS]:
        if record[key] == _DEFAULTS[key] and type(record[key]) is type(_DEFAULTS[key]):
            del record[key]  # a default from_record filled in, not a value of the record
    if "id" not in keys and record["id"] == record_id(record):
        del record["id"]  # reading the record back gives the same id
    return {**{k: record[k] for k in keys if k in record},
            **{k: v for k, v in record.items() if k not in keys}}


def self_contained(code: str, name: str) -> str:
    """``code`` with every top-level statement other than ``def name`` moved into that
    function (after its docstring), so it runs under the release's executor, where the
    function cannot see module-level names. Code already self-contained is returned as is.
    Raises ``ValueError`` when ``code`` does not define ``name``."""
    tree = parse_source(code)
    target = next((n for n in reversed(tree.body) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and n.name == name), None)
    if target is None:
        raise ValueError(f"code does not define {name!r}")
    if len(tree.body) == 1:
        return code
    lines = code.splitlines()
    start = min([target.lineno] + [d.lineno for d in target.decorator_list]) - 1
    moved = [line for line in lines[:start] + lines[target.end_lineno:]]
    while moved and not moved[0].strip():
        moved.pop(0)
    while moved and not moved[-1].strip():
        moved.pop()
    first = target.body[0]
    has_doc = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
               and isinstance(first.value.value, str))
    split = first.end_lineno if has_doc else first.lineno - 1
    indent = " " * first.col_offset
    body = [indent + line if line.strip() else "" for line in moved] + [""]
    out = lines[start:split] + body + lines[split:target.end_lineno]
    result = "\n".join(out) + "\n"
    if self_contained_problem(result, name) is not None:  # e.g. a multi-line string moved
        raise ValueError(f"cannot make {name!r} self-contained")
    return result


def self_contained_problem(code: str, name: str) -> str | None:
    """Why ``code`` is not a single self-contained function ``name`` (or None)."""
    try:
        tree = parse_source(code)
    except SyntaxError as exc:
        return f"does not compile: {exc.msg}"
    others = [n for n in tree.body if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                                           and n.name == name)]
    if len(others) == len(tree.body):
        return f"does not define {name!r}"
    if others:
        return f"top-level statement at line {others[0].lineno} outside {name!r}"
    return None


def release_call(name: str, arguments: dict, code: str, **kwargs) -> str:
    """Run tool ``name`` as the release's ``call_function`` does (``exec(code)`` in a
    function's scope, then ``eval(name)``, the result JSON-dumped when a dict or list, else
    ``str``); raises what the tool raises. Unsafe: only for trusted code (tests, checks)."""
    # globals without the caller's names, and a locals dict of their own: what exec/eval
    # inside a function gives (CPython before 3.13), whatever this Python's version
    scope: dict[str, Any] = {"__builtins__": builtins, "__name__": "ftrl_release"}
    local: dict[str, Any] = {}
    exec(compile(code, f"<tool {name}>", "exec"), scope, local)  # noqa: S102 - trusted code
    predict = eval(name, scope, local)(**arguments, **kwargs)  # noqa: S307
    if type(predict) in (dict, list):
        return json.dumps(predict, ensure_ascii=False)
    return predict if type(predict) is str else str(predict)


def read_environments(path, *, on_error: str = "stop"):
    """A :class:`~toolfeedback.jsonl.JsonlReader` of environments in FTRL format."""
    from .jsonl import JsonlReader

    return JsonlReader(path, from_record, on_error=on_error)
