"""Domain types: frozen attrs classes shared by every stage of the pipeline.

Conversion to and from JSON goes through :mod:`toolfeedback.convert` (one cattrs
converter at the edge) and, for the released data format, :mod:`toolfeedback.ftrl`.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs
from attrs import field, frozen


class Pattern(str, enum.Enum):
    """The four scenario patterns of the paper."""

    SINGLE_HOP = "single-hop"
    PARALLEL_SINGLE_HOP = "parallel-single-hop"
    MULTI_HOP = "multi-hop"
    PARALLEL_MULTI_HOP = "parallel-multi-hop"

    def __str__(self) -> str:
        return self.value


@frozen
class SubQuestion:
    """One sub-question, answered by one tool call.

    ``depends_on`` lists the ids of sub-questions whose answers feed this one's
    arguments (multi-hop); ``tool`` is the tool that answers it once documents exist.
    """

    id: str
    question: str
    answer: str
    tool: str | None = None
    depends_on: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(factory=dict)


@frozen
class Scenario:
    """A question decomposed into sub-questions following one pattern."""

    id: str
    question: str
    answer: str
    pattern: Pattern
    sub_questions: tuple[SubQuestion, ...] = ()
    metadata: dict[str, Any] = field(factory=dict)


@frozen
class ToolSpec:
    """A tool document: an OpenAI function schema (name, description, JSON-schema parameters)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(factory=lambda: {"type": "object", "properties": {}})
    #: Other keys of the function object (e.g. ``strict``), kept so records round-trip.
    extra: dict[str, Any] = field(factory=dict)

    def to_openai(self) -> dict[str, Any]:
        """``{"type": "function", "function": {...}}`` as the release and chat templates use."""
        fn = {"name": self.name, "description": self.description, "parameters": self.parameters}
        fn.update(self.extra)
        return {"type": "function", "function": fn}

    @classmethod
    def from_openai(cls, obj: dict[str, Any]) -> "ToolSpec":
        """Accept both ``{"type": "function", "function": {...}}`` and a bare function dict."""
        fn = obj.get("function", obj) if isinstance(obj, dict) else obj
        extra = {k: v for k, v in fn.items() if k not in ("name", "description", "parameters")}
        return cls(name=fn["name"], description=fn.get("description", "") or "",
                   parameters=fn.get("parameters") or {"type": "object", "properties": {}},
                   extra=extra)


@frozen
class ToolCall:
    """One parsed tool call. ``arguments`` is the decoded JSON value (normally an object;
    the release passes whatever decoded, and a non-object then fails at call time)."""

    name: str
    arguments: Any = field(factory=dict)
    id: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The structured ``tool_calls`` entry of an assistant message (arguments as a JSON string)."""
        import json

        return {"id": self.id or "", "type": "function", "function": {
            "name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)}}


@frozen
class ToolResult:
    """What one call returned, serialized exactly as the release does.

    ``content`` is the text the model sees (the output, or an error message);
    ``ok`` is False when the call raised, timed out or crashed; ``error`` says why.
    """

    name: str
    content: str
    ok: bool = True
    error: str | None = None
    call_id: str | None = None


@frozen
class Environment:
    """A verifiable tool-use environment, equally one step sample of the release format.

    ``messages`` is the chat so far (system + user for a fresh environment; the prefix
    after some tool steps for a step sample), ``tools`` the documents, ``codes`` tool name
    -> Python source defining that function, ``unsolved`` tool name -> expected answers
    still unsolved, ``solve_rate`` the fraction already solved. ``golden`` holds the steps
    of calls that solve it (our field; empty for released data).
    """

    id: str
    messages: tuple[dict[str, Any], ...]
    tools: tuple[ToolSpec, ...]
    codes: dict[str, str]
    unsolved: dict[str, tuple[str, ...]]
    answer: str
    pattern: Pattern | None = None
    golden: tuple[tuple[ToolCall, ...], ...] = ()
    source: str = ""
    split: str = "train"
    solve_rate: float = 0.0
    metadata: dict[str, Any] = field(factory=dict)

    @property
    def total_answers(self) -> int:
        """Number of expected answers still unsolved."""
        return sum(len(v) for v in self.unsolved.values())

    def tool_names(self) -> list[str]:
        """Names of the tools, in document order."""
        return [t.name for t in self.tools]

    evolve = attrs.evolve


@frozen
class Step:
    """One assistant turn of an episode, with what its calls returned and what it earned."""

    index: int
    response: str
    content: str | None
    reasoning: str | None = None
    calls: tuple[ToolCall, ...] = ()
    results: tuple[ToolResult, ...] = ()
    hits: tuple[str, ...] = ()
    reward: float = 0.0
    unsolved_before: dict[str, tuple[str, ...]] = field(factory=dict)
    solve_rate_before: float = 0.0


@frozen
class Metrics:
    """Episode metrics: ``calls`` C made, ``solved`` S sub-answers, ``total`` T sub-answers."""

    calls: int
    solved: int
    total: int

    @property
    def precision(self) -> float:
        """Solve-P = S / C (1 when no call was made)."""
        return 1.0 if self.calls == 0 else self.solved / self.calls

    @property
    def recall(self) -> float:
        """Solve-R = S / T."""
        return self.solved / self.total if self.total else 0.0

    @property
    def f1(self) -> float:
        """Solve-F1 = 2S / (C + T)."""
        denom = self.calls + self.total
        return 2 * self.solved / denom if denom else 0.0

    def as_dict(self) -> dict[str, float]:
        """Counts and the three scores, for reports."""
        return {"calls": self.calls, "solved": self.solved, "total": self.total,
                "solve_p": self.precision, "solve_r": self.recall, "solve_f1": self.f1}


@frozen
class Trajectory:
    """A whole episode in one environment."""

    env_id: str
    messages: tuple[dict[str, Any], ...]
    steps: tuple[Step, ...]
    metrics: Metrics
    mode: str = "no-think"
    model: str = ""
    sample: int = 0
    finished: str = "answer"  # answer | max_turns | error
    metadata: dict[str, Any] = field(factory=dict)
