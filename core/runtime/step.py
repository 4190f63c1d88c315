"""The environment runtime: the ONE step function every caller runs a response through.

:func:`run_step` takes one assistant response (text, a message dict, or a backend
:class:`~toolfeedback.generation.Completion` with structured ``tool_calls``) and runs the
step in one fixed order: split the reasoning off (the mode's job, so a call written while
thinking is never executed) -> parse the calls (the tool format's job; structured calls
are decoded from the structure) -> execute them through an
:class:`~toolfeedback.runtime.executor.Executor` (normally the sandbox) -> match unsolved
answers with the FTRL rule -> tool messages and hits. It returns a :class:`StepOutcome`
that every reward component scores. ``toolfeedback score``, rollout, the training reward,
DPO and every benchmark call it, so one response earns one reward everywhere. Nothing
passed in is mutated: the unsolved set after the step is a new mapping.

Example::

    from toolfeedback.runtime.step import run_step, make_reward
    from toolfeedback.runtime.sandbox import Sandbox
    with Sandbox(workers=2) as sandbox:
        outcome = run_step(env, response, mode=think, executor=sandbox, tool_format=hermes)
        reward = make_reward(pm, "solve_f1").score(outcome)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

from attrs import field, frozen

from ..errors import ConfigError
from .matching import final_answer_in, match_hits
from ..types import Environment, ToolCall, ToolResult

#: Markup whose presence in a call-less response means a tool call failed to parse.
BROKEN_MARKUP = ("<tool_call>", "</tool_call>", "<tool_parsed_response>")
_UNSET: Any = object()


@frozen
class ParsedMessage:
    """A model response split by a tool-call format.

    ``content`` is the text outside the calls (the whole text when no call parsed;
    ``None`` only for a structured message without content), ``calls`` the calls that
    parsed, in order, ``raw`` the text that was parsed.
    """

    content: str | None
    calls: tuple[ToolCall, ...] = ()
    raw: str = ""


@frozen
class StepOutcome:
    """Everything one assistant response did at one step, for rewards and rollouts.

    ``hits[i]`` is the answer call ``i`` solved (``None`` for a miss). ``unsolved_before``
    / ``unsolved_after`` map tool name -> expected answers still open; the counts and
    solve rates are taken before and after this step's hits. ``tool_messages`` and
    ``assistant_message`` are ready to append to the chat.
    """

    content: str | None
    calls: tuple[ToolCall, ...]
    results: tuple[ToolResult, ...]
    hits: tuple[str | None, ...]
    unsolved_before: dict[str, tuple[str, ...]]
    unsolved_after: dict[str, tuple[str, ...]]
    solve_rate_before: float
    solve_rate_after: float
    answer: str | None
    tool_messages: tuple[dict[str, Any], ...] = ()
    assistant_message: dict[str, Any] = field(factory=dict)
    #: The reasoning the mode split off (``None`` when there was none).
    reasoning: str | None = None
    #: The response after the reasoning split, before parsing (what a trajectory records).
    text: str | None = None

    @property
    def n_calls(self) -> int:
        """Number of parsed tool calls (the ``n`` of the reward formulas)."""
        return len(self.calls)

    @property
    def n_hits(self) -> int:
        """Number of calls that solved an answer (the ``h`` of the reward formulas)."""
        return sum(1 for h in self.hits if h is not None)

    @property
    def unsolved_count_before(self) -> int:
        """Answers still unsolved before this step (the ``u`` of the final-answer rule)."""
        return sum(len(v) for v in self.unsolved_before.values())

    @property
    def unsolved_count_after(self) -> int:
        """Answers still unsolved after this step's hits."""
        return sum(len(v) for v in self.unsolved_after.values())

    @property
    def answered(self) -> bool:
        """True when a call-less response holds the final answer (release rule)."""
        return not self.calls and bool(self.content) and final_answer_in(self.content, self.answer)

    def breakdown(self) -> dict[str, Any]:
        """The JSON-friendly summary ``toolfeedback score`` writes beside the score."""
        return {
            "calls": [{"name": c.name, "arguments": c.arguments} for c in self.calls],
            "results": [r.content for r in self.results],
            "ok": [r.ok for r in self.results],
            "hits": list(self.hits),
            "n_calls": self.n_calls,
            "n_hits": self.n_hits,
            "remaining": {k: list(v) for k, v in self.unsolved_after.items()},
            "unsolved_before": self.unsolved_count_before,
            "unsolved_after": self.unsolved_count_after,
            "solve_rate_before": self.solve_rate_before,
            "solve_rate_after": self.solve_rate_after,
            "content": self.content,
        }


def call_ids(text: str, count: int) -> list[str]:
    """Deterministic call ids for calls that came without one (the release hashes the clock)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return [f"call_{digest}_{i}" for i in range(count)]


def total_answers(env: Environment) -> int:
    """All sub-answers of the environment, solved or not (``metadata['total_answers']`` if
    given, else inferred from the open answers and the solve rate of the record)."""
    total = env.metadata.get("total_answers") if isinstance(env.metadata, dict) else None
    if isinstance(total, int) and total > 0:
        return total
    open_count = env.total_answers
    if 0 < env.solve_rate < 1:
        return max(open_count, round(open_count / (1 - env.solve_rate)))
    return open_count


def decode_tool_call(entry: Any) -> ToolCall | None:
    """One structured ``tool_calls`` entry (OpenAI form) -> a call, as the release reads it:
    empty or ``null`` arguments give ``{}``; no name, or arguments that are not valid JSON,
    drop the call (``None``)."""
    if not isinstance(entry, dict):
        return None
    fn = entry.get("function", entry)
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        return None
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    if args is None:
        args = {}
    call_id = entry.get("id")
    return ToolCall(name=fn["name"], arguments=args,
                    id=call_id if isinstance(call_id, str) and call_id else None)


def response_parts(response: Any, tool_format) -> tuple[str | None, str | None, tuple]:
    """``(text, reasoning, structured tool_calls)`` of a response in any of its forms.

    A string is the model's text; for a format whose responses are messages
    (``tool_format.structured``, e.g. ``openai``) a string holding a JSON message is read
    as that message. A message dict gives ``content``, ``reasoning_content`` (or
    ``reasoning``) and ``tool_calls``; a :class:`~toolfeedback.generation.Completion` its
    ``text``, ``reasoning`` and ``tool_calls``.
    """
    if isinstance(response, str):
        if not tool_format.structured:
            return response, None, ()
        try:
            message = json.loads(response)
        except json.JSONDecodeError:
            return response, None, ()
        if not isinstance(message, dict):
            return response, None, ()
        response = message
    if isinstance(response, dict):
        content = response.get("content")
        if content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        reasoning = response.get("reasoning_content", response.get("reasoning"))
        calls = response.get("tool_calls") or ()
        return (content, reasoning if isinstance(reasoning, str) else None,
                tuple(calls) if isinstance(calls, (list, tuple)) else ())
    if response is None:
        return "", None, ()
    text = getattr(response, "text", None)
    if text is None:
        return str(response), None, ()
    return text, getattr(response, "reasoning", None), tuple(getattr(response, "tool_calls", ()) or ())


def parse_response(tool_format, text: str | None, tool_calls: Sequence[Any] = ()) -> ParsedMessage:
    """Parse one reasoning-free response with ``tool_format``. Structured calls (from an
    OpenAI-compatible server, or a message) are decoded from the structure, whatever the
    format: the server already parsed the markup out of the text. A structured format
    (``openai``) never looks for calls in the text; the others parse the text."""
    if tool_calls or tool_format.structured:
        calls = tuple(c for c in (decode_tool_call(e) for e in tool_calls) if c)
        raw = json.dumps([e for e in tool_calls], ensure_ascii=False, default=str) if tool_calls else (text or "")
        return ParsedMessage(content=text, calls=calls, raw=raw)
    return tool_format.parse(text or "")


def run_step(env: Environment, response: Any, *, executor, tool_format, mode=None,
             unsolved: Mapping[str, Sequence[str]] | None = None, solve_rate: float | None = None,
             episode: str | None = None, state: Any = None, answer: Any = _UNSET,
             timeout: float | None = None, max_calls: int | None = None) -> StepOutcome:
    """Run one assistant response in ``env`` and return its :class:`StepOutcome`.

    ``response`` is the raw text, a message dict or a backend ``Completion`` (see
    :func:`response_parts`). ``mode`` splits the reasoning off first and shapes the
    assistant message kept in the chat (``None``: the text is already reasoning-free).
    ``executor=None`` parses without running anything (single-turn evaluation of tools
    that have no code). ``max_calls`` keeps only the first calls of the response (the
    release keeps one for tau-bench). ``unsolved`` / ``solve_rate`` override the
    environment's (for later steps of an episode); ``episode`` / ``state`` give stateful
    tools their per-episode database; ``answer`` overrides ``env.answer`` (``None``: no
    final answer to look for; an empty ``env.answer`` counts as none).
    """
    text, reasoning, structured = response_parts(response, tool_format)
    if mode is not None and text is not None:
        reasoning, text = mode.split(text, reasoning)
    parsed = parse_response(tool_format, text, structured)
    before = {k: tuple(v) for k, v in (env.unsolved if unsolved is None else unsolved).items()}
    rate = env.solve_rate if solve_rate is None else solve_rate
    final = (env.answer or None) if answer is _UNSET else answer
    calls = parsed.calls if max_calls is None else parsed.calls[:max_calls]
    if any(c.id is None for c in calls):
        ids = call_ids(parsed.raw if isinstance(parsed.raw, str) else str(parsed.raw), len(calls))
        calls = tuple(c if c.id is not None else ToolCall(c.name, c.arguments, ids[i])
                      for i, c in enumerate(calls))
    results: tuple[ToolResult, ...] = ()
    hits: list[str | None] = []
    after = before
    if calls and executor is not None:
        results = tuple(executor.run_calls(env.id, env.codes, calls, episode=episode,
                                           state=state, timeout=timeout))
        hits, after = match_hits([(c.name, r.content) for c, r in zip(calls, results)], before)
    total = total_answers(env)
    solved_now = sum(1 for h in hits if h is not None)
    rate_after = rate if not total else min(1.0, rate + solved_now / total)
    tool_messages = tuple({"role": "tool", "content": r.content, "tool_call_id": c.id, "name": c.name}
                          for c, r in zip(calls, results))
    assistant: dict[str, Any] = {"role": "assistant", "content": parsed.content or ""}
    if calls:
        assistant["tool_calls"] = [c.to_openai() for c in calls]
    if mode is not None:
        assistant = mode.history_message(assistant, reasoning)
    return StepOutcome(content=parsed.content, calls=calls, results=results, hits=tuple(hits),
                       unsolved_before=before, unsolved_after=after, solve_rate_before=rate,
                       solve_rate_after=rate_after, answer=final, tool_messages=tool_messages,
                       assistant_message=assistant, reasoning=reasoning, text=text)


# --------------------------------------------------------------------------- rewards


class WeightedReward:
    """A weighted sum of reward components; usable wherever a reward is named."""

    def __init__(self, parts: Sequence[tuple[Any, float]], name: str | None = None):
        self.parts = tuple(parts)
        self.name = name or ",".join(f"{r.name}:{w:g}" for r, w in self.parts)

    def score(self, outcome: StepOutcome) -> float:
        """``sum(weight * component.score(outcome))``."""
        return float(sum(w * r.score(outcome) for r, w in self.parts))

    def components(self, outcome: StepOutcome) -> dict[str, float]:
        """Each component's unweighted score, for breakdowns."""
        return {r.name: r.score(outcome) for r, _ in self.parts}


def make_reward(pm, spec: str):
    """The reward named ``spec`` (``"solve_f1"``) or a weighted composition
    (``"solve_f1:1.0,format:0.2"``); unknown names raise a clear error listing the known."""
    from ..registry import Catalog

    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("reward: expected a name such as 'solve_f1' or 'solve_f1:1.0,format:0.2'")
    catalog = Catalog(pm)
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if len(items) == 1 and ":" not in items[0]:
        return catalog.get("rewards", items[0])
    parts = []
    for item in items:
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"reward {spec!r}: weight of {name!r} is not a number: {weight!r}") from None
        parts.append((catalog.get("rewards", name.strip()), value))
    return WeightedReward(parts, name=spec)
