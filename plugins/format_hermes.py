"""The ``hermes`` tool-call format (Qwen): ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``.

Parsing follows the FTRL release exactly, quirks included: the response is stripped of a
trailing ``<|endoftext|>`` then ``<|im_end|>``; content is the text before the first
``<tool_call>``; the rest is split on ``</tool_call>``; each piece that starts with
``<tool_call>`` loses its leading characters *from the set* ``<tool_call>`` (a ``str.lstrip``
of that character set) and is decoded as JSON; a piece without a truthy ``name`` or without
``arguments`` is dropped; ``arguments`` that is not an object is decoded once more from
JSON (a JSON string decoding to a non-object is still a call, which fails when run); when no
call parses, the whole text is the content.
"""

from __future__ import annotations

import json
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.runtime.step import ParsedMessage
from toolfeedback.types import ToolCall
from toolfeedback.contracts import ToolFormat

START, END = "<tool_call>", "</tool_call>"
EOS_SUFFIXES = ("<|endoftext|>", "<|im_end|>")


def strip_response(text: str) -> str:
    """The release's response clean-up before parsing."""
    return text.strip().removesuffix(EOS_SUFFIXES[0]).strip().removesuffix(EOS_SUFFIXES[1]).strip()


def _decode_call(piece: str) -> ToolCall | None:
    body = piece.strip()
    if not body.startswith(START):
        return None
    try:
        obj = json.loads(body.lstrip(START).strip())
        name = obj.get("name", None)  # a non-object raises here: dropped, as released
        if not name:
            return None
        args = obj["arguments"]
        if type(args) is not dict:  # noqa: E721 - the release checks the exact type
            args = json.loads(args)
    except Exception:  # noqa: BLE001 - any failure drops the call, as released
        return None
    if not isinstance(name, str):
        # The release keeps e.g. a numeric name and fails at call time; we name it by its JSON.
        name = json.dumps(name, ensure_ascii=False)
    return ToolCall(name=name, arguments=args)


class HermesFormat(ToolFormat):
    """Qwen / Hermes ``<tool_call>`` JSON blocks, several per message."""

    name = "hermes"

    def parse(self, text: Any) -> ParsedMessage:
        """Split a raw response into content and calls (see the module doc)."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        inputs = strip_response(text)
        start = inputs.find(START)
        if start == -1:
            return ParsedMessage(content=inputs.strip(), calls=(), raw=inputs)
        calls = tuple(c for c in (_decode_call(p) for p in inputs[start:].split(END)) if c)
        if not calls:
            return ParsedMessage(content=inputs.strip(), calls=(), raw=inputs)
        content = inputs[:start].strip() if start != 0 else ""
        return ParsedMessage(content=content, calls=calls, raw=inputs)

    def render(self, content: str | None, calls=()) -> str:
        """The text a Qwen chat template produces for an assistant turn with these calls."""
        parts = [content] if content else []
        for call in calls:
            payload = {"name": call.name, "arguments": call.arguments}
            parts.append(f"{START}\n{json.dumps(payload, ensure_ascii=False)}\n{END}")
        return "\n".join(parts)


@hookimpl
def register_tool_formats(register):
    register(HermesFormat())
