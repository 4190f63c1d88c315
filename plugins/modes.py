"""Inference modes ``no-think``, ``think`` (native, Qwen3 ``enable_thinking``) and
``think-prompted`` (for models whose chat template has no thinking switch).

A mode decides three things: the chat-template arguments and prompt changes for a turn,
how a completion splits into reasoning and answer (before tool calls are parsed, so a
``<tool_call>`` written while reasoning is never executed), and how the reasoning is
carried into later turns (as ``reasoning_content`` on the assistant message: Qwen3's
template shows it for turns after the last user query and drops it before).
"""

from __future__ import annotations

import re

from toolfeedback import hookimpl
from toolfeedback.contracts import Mode

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_LEADING_EMPTY_THINK = re.compile(r"^\s*<think>\s*</think>\s*")

PROMPTED_INSTRUCTION = (
    "Before answering, think step by step inside <think> and </think> tags; then give your "
    "answer or your tool calls after </think>.")


def split_reasoning(text: str, reasoning: str | None = None) -> tuple[str | None, str]:
    """``(reasoning, content)`` of a completion.

    A server-provided ``reasoning`` field wins. Otherwise everything up to the last
    ``</think>`` is reasoning; an opened ``<think>`` that never closes (budget ran out)
    makes the whole text reasoning and the content empty.
    """
    if reasoning is not None:
        return reasoning.strip(), _strip_think_blocks(text)
    close = text.rfind(_THINK_CLOSE)
    if close >= 0:
        head, content = text[:close], text[close + len(_THINK_CLOSE):]
        start = head.find(_THINK_OPEN)
        head = head[start + len(_THINK_OPEN):] if start >= 0 else head
        return head.strip(), content.lstrip("\n").strip()
    open_at = text.find(_THINK_OPEN)
    if open_at >= 0:
        return text[open_at + len(_THINK_OPEN):].strip(), text[:open_at].strip()
    return None, text.strip()


def _strip_think_blocks(text: str) -> str:
    return split_reasoning(text)[1]


class NoThinkMode(Mode):
    """Answer directly: ``enable_thinking=False`` (the template pre-fills an empty think
    block); any think block the model writes anyway is removed before parsing calls."""

    name = "no-think"
    thinking = False
    default_max_new_tokens = 1024

    def template_kwargs(self) -> dict:
        """Chat-template keyword arguments for every turn."""
        return {"enable_thinking": False}

    def prepare_messages(self, messages: list[dict]) -> list[dict]:
        """Messages as sent to the model (unchanged here)."""
        return messages

    def split(self, text: str, reasoning: str | None = None) -> tuple[str | None, str]:
        """``(reasoning, content)``; reasoning is dropped from the content in this mode too."""
        return split_reasoning(text, reasoning)

    def history_message(self, message: dict, reasoning: str | None) -> dict:
        """The assistant message as kept in the chat for later turns."""
        return message


class ThinkMode(NoThinkMode):
    """Native reasoning: ``enable_thinking=True``; the reasoning is kept on the assistant
    message as ``reasoning_content`` for the template to render the Qwen3 way."""

    name = "think"
    thinking = True
    native_thinking = True  # the chat template's enable_thinking switch
    thinking = True
    default_max_new_tokens = 8192

    def template_kwargs(self) -> dict:
        return {"enable_thinking": True}

    def history_message(self, message: dict, reasoning: str | None) -> dict:
        if reasoning:
            return {**message, "reasoning_content": reasoning}
        return message


class PromptedThinkMode(ThinkMode):
    """Reasoning for models without a thinking switch: an instruction in the system prompt
    asks for ``<think>...</think>`` first; splitting and history work as in ``think``."""

    name = "think-prompted"
    native_thinking = False  # an instruction, not the template's switch

    def template_kwargs(self) -> dict:
        return {}

    def prepare_messages(self, messages: list[dict]) -> list[dict]:
        if messages and messages[0].get("role") == "system":
            first = dict(messages[0])
            first["content"] = f"{first.get('content') or ''}\n\n{PROMPTED_INSTRUCTION}".strip()
            return [first, *messages[1:]]
        return [{"role": "system", "content": PROMPTED_INSTRUCTION}, *messages]


@hookimpl
def register_modes(register):
    register(NoThinkMode())
    register(ThinkMode())
    register(PromptedThinkMode())
