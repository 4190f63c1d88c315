"""The FTRL release format (one JSON object per line) <-> :class:`~toolfeedback.types.Environment`.

Released fields: ``messages``, ``tools`` (JSON string), ``codes`` (JSON string),
``unsolved_set`` (JSON string), ``solve_rate``, ``answer``, ``data_source``, ``split``.
Ours, kept alongside: ``id``, ``pattern``, ``golden``, ``metadata``. Any other field is
kept verbatim and written back, so released records round-trip losslessly.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .types import Environment, Pattern, ToolCall, ToolSpec

RELEASE_FIELDS = ("messages", "tools", "codes", "unsolved_set", "solve_rate", "answer",
                  "data_source", "split")
OUR_FIELDS = ("id", "pattern", "golden", "metadata")
EXTRA_KEY = "ftrl_extra"


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
    return Environment(
        id=env_id or record_id(record),
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


def to_record(env: Environment) -> dict[str, Any]:
    """Serialize to the FTRL release format plus our fields (JSON strings where the release has them)."""
    metadata = dict(env.metadata)
    extra = metadata.pop(EXTRA_KEY, {})
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
    return record


def read_environments(path, *, on_error: str = "stop"):
    """A :class:`~toolfeedback.jsonl.JsonlReader` of environments in FTRL format."""
    from .jsonl import JsonlReader

    return JsonlReader(path, from_record, on_error=on_error)
