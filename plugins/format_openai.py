"""The ``openai`` tool-call format: structured ``tool_calls`` of an assistant message.

``parse`` takes the message dict an OpenAI-compatible server returns (or its JSON text):
``{"content": ..., "tool_calls": [{"id", "type": "function", "function": {"name",
"arguments": "<json string>"}}]}``. As in the release, a call whose arguments are empty
or decode to ``null`` gets ``{}``; a call without a name, or whose arguments are not
valid JSON, is dropped; when no call remains the content is kept as is.
"""

from __future__ import annotations

import json
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.runtime.step import ParsedMessage, decode_tool_call
from toolfeedback.contracts import ToolFormat


class OpenAIFormat(ToolFormat):
    """Structured ``tool_calls`` (OpenAI chat completions)."""

    name = "openai"
    #: Responses are messages: the step function reads calls from ``tool_calls``, never from text.
    structured = True

    def parse(self, text: Any) -> ParsedMessage:
        """Accept a message dict or its JSON text; plain text is all content."""
        message = text
        if isinstance(text, str):
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                message = None
            if not isinstance(message, dict):
                return ParsedMessage(content=text.strip(), calls=(), raw=text)
        if not isinstance(message, dict):
            return ParsedMessage(content=None, calls=(), raw=str(text))
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        raw_calls = message.get("tool_calls") or []
        calls = tuple(c for c in (decode_tool_call(e) for e in raw_calls if raw_calls) if c) \
            if isinstance(raw_calls, list) else ()
        raw = text if isinstance(text, str) else json.dumps(message, ensure_ascii=False)
        return ParsedMessage(content=content, calls=calls, raw=raw)

    def render(self, content: str | None, calls=()) -> str:
        """The assistant message as JSON text."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = [c.to_openai() for c in calls]
        return json.dumps(message, ensure_ascii=False)


@hookimpl
def register_tool_formats(register):
    register(OpenAIFormat())
