"""The ``llama3`` tool-call format: JSON calls ``{"name": ..., "parameters": {...}}``,
after ``<|python_tag|>`` or as the whole message (Llama 3.1 custom tool calling).

Several calls may follow one tag, separated by ``;`` or whitespace, or come as a JSON
list. ``parameters`` (or ``arguments``) may be an object or a JSON string. Trailing
``<|eot_id|>`` / ``<|eom_id|>`` are stripped. A call without a name is dropped; when no
call parses the whole text is the content (as in the release's ``parse_llama31``).
"""

from __future__ import annotations

import json
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.runtime.step import ParsedMessage
from toolfeedback.types import ToolCall
from toolfeedback.contracts import ToolFormat

TAG = "<|python_tag|>"
EOS = ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")
_DECODER = json.JSONDecoder()


def _to_call(obj: Any) -> ToolCall | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        return None
    args = obj.get("parameters", obj.get("arguments", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    return ToolCall(name=obj["name"], arguments={} if args is None else args)


def _objects(text: str) -> list[Any] | None:
    """Decode consecutive JSON values separated by ``;``/whitespace; None if anything else."""
    values, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n;":
            pos += 1
        if pos >= len(text):
            return values
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        values.extend(value if isinstance(value, list) else [value])


class Llama3Format(ToolFormat):
    """Llama 3.x JSON tool calls."""

    name = "llama3"

    def parse(self, text: Any) -> ParsedMessage:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        inputs = text.strip()
        for suffix in EOS:
            inputs = inputs.removesuffix(suffix).strip()
        start = inputs.find(TAG)
        if start == -1:
            content, body = "", inputs
        else:
            content, body = inputs[:start].strip(), inputs[start:].replace(TAG, " ")
        objects = _objects(body) if body.lstrip().startswith(("{", "[")) else None
        calls = tuple(c for c in (_to_call(o) for o in objects or []) if c)
        if not calls:
            return ParsedMessage(content=inputs, calls=(), raw=inputs)
        return ParsedMessage(content=content, calls=calls, raw=inputs)

    def render(self, content: str | None, calls=()) -> str:
        body = "; ".join(json.dumps({"name": c.name, "parameters": c.arguments}, ensure_ascii=False)
                         for c in calls)
        if not calls:
            return content or ""
        return f"{content}{TAG}{body}" if content else f"{TAG}{body}"


@hookimpl
def register_tool_formats(register):
    register(Llama3Format())
