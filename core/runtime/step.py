"""The environment runtime: run one assistant response's tool calls and score what they solved.

:func:`run_step` parses a response with a tool-call format, executes the calls through an
:class:`~toolfeedback.runtime.executor.Executor` (normally the sandbox), decides hits with the FTRL
answer-match rule and returns a :class:`StepOutcome` that every reward component scores.
Nothing passed in is mutated: the unsolved set after the step is a new mapping.

Example::

    from toolfeedback.runtime.step import run_step, make_reward
    from toolfeedback.runtime.sandbox import Sandbox
    with Sandbox(workers=2) as sandbox:
        outcome = run_step(env, response, executor=sandbox, tool_format=hermes)
        reward = make_reward(pm, "solve_f1").score(outcome)
"""

from __future__ import annotations

import hashlib
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


def run_step(env: Environment, text: Any, *, executor, tool_format,
             unsolved: Mapping[str, Sequence[str]] | None = None, solve_rate: float | None = None,
             episode: str | None = None, state: Any = None, answer: Any = _UNSET,
             timeout: float | None = None) -> StepOutcome:
    """Run one assistant response in ``env`` and return its :class:`StepOutcome`.

    ``text`` is the raw response (or, for the ``openai`` format, a message dict);
    ``unsolved`` / ``solve_rate`` override the environment's (for later steps of an
    episode); ``episode`` / ``state`` give stateful tools their per-episode database;
    ``answer`` overrides ``env.answer`` (``None``: no final answer to look for; an empty
    ``env.answer`` counts as none).
    """
    parsed = tool_format.parse(text)
    before = {k: tuple(v) for k, v in (env.unsolved if unsolved is None else unsolved).items()}
    rate = env.solve_rate if solve_rate is None else solve_rate
    final = (env.answer or None) if answer is _UNSET else answer
    calls = parsed.calls
    if any(c.id is None for c in calls):
        ids = call_ids(parsed.raw if isinstance(parsed.raw, str) else str(parsed.raw), len(calls))
        calls = tuple(c if c.id is not None else ToolCall(c.name, c.arguments, ids[i])
                      for i, c in enumerate(calls))
    results: tuple[ToolResult, ...] = ()
    hits: list[str | None] = []
    after = before
    if calls:
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
    return StepOutcome(content=parsed.content, calls=calls, results=results, hits=tuple(hits),
                       unsolved_before=before, unsolved_after=after, solve_rate_before=rate,
                       solve_rate_after=rate_after, answer=final, tool_messages=tool_messages,
                       assistant_message=assistant)


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
