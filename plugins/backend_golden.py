"""The ``golden`` backend: an oracle that plays each environment's golden calls and answer.

It is an ordinary :class:`~toolfeedback.generation.Generator`, so golden episodes run
through the same rollout loop as a model's: the same tool execution in the sandbox, the
same step samples, the same trajectory records and rewards. That gives SFT its data
(``rollout --backend golden``) and every evaluator an oracle to check itself against
(``eval --backend golden`` scores 100% Solve-F1 on verified environments).

The "model" is the environments file (``--model envs.jsonl``, or the ``envs`` option).
A request is matched to its environment by its tool names and its first user message;
the number of assistant turns already in the chat says which golden step comes next.
Calls come back as structured ``tool_calls``, which the loop renders in the run's tool
format; after the last golden step the answer is the environment's ``answer``. When the
chat asks for reasoning (``enable_thinking=True``, or a ``<think>`` instruction in the
system prompt) a short plan is returned as ``reasoning``, so think-mode data has some.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from toolfeedback import hookimpl
from toolfeedback.errors import ConfigError, InputError, ToolfeedbackError
from toolfeedback.generation import ChatRequest, Completion, SamplingParams


def _key(messages: Sequence[dict], tool_names: Sequence[str]) -> tuple:
    user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
    return (str(user), tuple(sorted(tool_names)))


def _wants_reasoning(request: ChatRequest) -> bool:
    if request.template_kwargs.get("enable_thinking") is True:
        return True
    first = request.messages[0] if request.messages else {}
    return first.get("role") == "system" and "<think>" in str(first.get("content") or "")


class GoldenGenerator:
    """Answers each chat with the next golden step of the environment it belongs to."""

    supports_thinking = True

    def __init__(self, envs: str):
        from toolfeedback.ftrl import read_environments

        self.model_name = "golden"
        self.envs: dict[tuple, Any] = {}
        uncallable: list[int] = []  # lines with answers to find but no golden calls to play
        try:
            for line, env in read_environments(envs, on_error="stop"):
                self.envs.setdefault(_key(env.messages, env.tool_names()), env)
                if not env.golden and env.total_answers:
                    uncallable.append(line)
        except OSError as exc:
            raise ToolfeedbackError(f"backend 'golden': cannot read {envs!r} ({exc.strerror})") from None
        if uncallable:
            # an oracle that silently answered without calling would score 0 and look broken
            extra = len(uncallable) - 1
            more = f" (and {extra} more line{'s' if extra > 1 else ''})" if extra else ""
            raise InputError(f"backend 'golden': this environment has answers to find but no "
                             f"golden calls{more}; the oracle plays only environments with a "
                             f"`golden` field, as `toolfeedback build` writes them (FTRL "
                             f"release records carry none)", path=envs, line=uncallable[0])

    def _env(self, request: ChatRequest):
        names = [t.get("function", t).get("name") for t in request.tools]
        env = self.envs.get(_key(request.messages, names))
        if env is None:
            raise ToolfeedbackError("backend 'golden': a chat matches no environment of its file "
                                    "(same first user message and tool names)")
        return env

    def next_turn(self, request: ChatRequest) -> Completion:
        """The golden completion for one chat: the next step's calls, or the final answer."""
        from toolfeedback.types import ToolCall

        env = self._env(request)
        done = sum(1 for m in request.messages if m.get("role") == "assistant") \
            - sum(1 for m in env.messages if m.get("role") == "assistant")
        think = _wants_reasoning(request)
        if 0 <= done < len(env.golden):
            calls = env.golden[done]
            structured = tuple(ToolCall(c.name, c.arguments, c.id or f"call_{done}_{i}").to_openai()
                               for i, c in enumerate(calls))
            plan = "Call " + ", ".join(
                f"{c.name} with {json.dumps(c.arguments, ensure_ascii=False)}" for c in calls) + "."
            return Completion(text="", tool_calls=structured, reasoning=plan if think else None)
        answer = env.answer or ""
        return Completion(text=answer, reasoning="I have what I need." if think else None)

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams
                 ) -> list[list[Completion]]:
        """``params.n`` identical golden completions per request (the oracle is deterministic)."""
        return [[self.next_turn(r)] * max(1, params.n) for r in requests]

    def close(self) -> None:
        """Nothing to free."""


class GoldenBackend:
    """``golden``: the model argument (or option ``envs``) is the environments JSONL whose
    golden calls to play; ``device`` / ``dtype`` / ``batch_size`` are accepted and ignored,
    so any verb that passes them can run the oracle."""

    name = "golden"
    options = ("envs", "device", "dtype", "batch_size")

    def load(self, model: str, **options: Any) -> GoldenGenerator:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ConfigError(f"backend 'golden': unknown option(s) {', '.join(unknown)} "
                              f"(known: {', '.join(self.options)})")
        envs = options.get("envs") or model
        if not envs:
            raise ConfigError("backend 'golden': give the environments file as --model ENVS.jsonl")
        return GoldenGenerator(str(envs))


@hookimpl
def register_backends(register):
    register(GoldenBackend())
