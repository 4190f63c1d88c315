"""What flows between the construction stages, and how a stage says no.

``Question`` (from a source) -> decompose -> ``Draft`` (scenario, documents, golden calls)
-> document -> integrate -> scale -> deploy (fills ``codes``) -> ``Environment`` -> verify.
Every stage is a plugin (``register_stages``) with ``stage``, ``name`` and
``run(item, ctx)``; it returns the next item or raises :class:`Rejected`.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import field, frozen

from ..errors import ToolfeedbackError
from ..types import Scenario, ToolCall, ToolSpec

#: the order in which the pipeline runs the stages (verification is the pipeline's own step).
STAGES = ("decompose", "document", "integrate", "scale", "deploy")
#: the four complexity-scaling strategies, with the intensity used when a spec names one
#: without a value: a probability per tool, except ``distractors`` (a number of tools).
STRATEGIES = {"generalize": 1.0, "expand": 1.0, "types": 1.0, "distractors": 2.0}


def parse_stages(spec: str | None, default: str) -> dict[str, str]:
    """``{stage: implementation name}`` from ``--stages``: ``procedural`` (every stage),
    ``procedural,scale=mine`` (one stage replaced), ``scale=mine`` (the others: ``default``)."""
    parts = [p.strip() for p in (spec or "").split(",") if p.strip()]
    bare = [p for p in parts if "=" not in p]
    if len(bare) > 1:
        raise ValueError(f"stages: {spec!r}: at most one NAME for every stage, then STAGE=NAME")
    chosen = dict.fromkeys(STAGES, bare[0] if bare else default)
    for part in parts:
        if "=" not in part:
            continue
        stage, _, name = (x.strip() for x in part.partition("="))
        if stage not in STAGES or not name:
            raise ValueError(f"stages: {part!r}: expected STAGE=NAME with STAGE one of {', '.join(STAGES)}")
        chosen[stage] = name
    return chosen


def parse_scale(spec: str) -> dict[str, float]:
    """``"generalize:0.5,expand,distractors:3"`` -> ``{name: intensity}``; ``"none"`` -> ``{}``.

    Raises ``ValueError`` naming the bad part.
    """
    out: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part or part == "none":
            continue
        name, _, value = part.partition(":")
        if name not in STRATEGIES:
            raise ValueError(f"unknown scaling strategy {name!r}; known: {', '.join(STRATEGIES)}, none")
        try:
            out[name] = float(value) if value else STRATEGIES[name]
        except ValueError:
            raise ValueError(f"scaling strategy {name!r}: intensity {value!r} is not a number") from None
        if out[name] < 0 or (name != "distractors" and out[name] > 1):
            raise ValueError(f"scaling strategy {name!r}: intensity must be in [0, 1]"
                             if name != "distractors" else "distractors: a count >= 0")
    return out


class Rejected(ToolfeedbackError):
    """Raised by a stage (or verification) to reject one environment; ``reason`` is one line."""

    def __init__(self, reason: str, *, stage: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


@frozen
class Question:
    """A question as a source yields it, before decomposition.

    ``payload`` holds whatever the source knows beyond text and answer (the procedural
    plan, or a user's own decomposition); ``split`` is decided by the source so that train
    and test never share a question.
    """

    id: str
    question: str = ""
    answer: str = ""
    split: str = "train"
    payload: dict[str, Any] = field(factory=dict)


@frozen
class Draft:
    """An environment under construction.

    ``docs`` are the tool documents by name; ``calls`` the golden call answering each
    sub-question (by sub-question id); ``models`` stage-private structured tool
    descriptions (the procedural stages generate documents and code from them);
    ``distractors`` the tools added by toolset extension (they must never solve anything);
    ``codes`` is filled by deployment.
    """

    scenario: Scenario
    split: str = "train"
    docs: dict[str, ToolSpec] = field(factory=dict)
    calls: dict[str, ToolCall] = field(factory=dict)
    models: dict[str, Any] = field(factory=dict)
    distractors: tuple[str, ...] = ()
    codes: dict[str, str] = field(factory=dict)
    metadata: dict[str, Any] = field(factory=dict)

    evolve = attrs.evolve

    def golden_steps(self) -> tuple[tuple[ToolCall, ...], ...]:
        """Golden calls grouped in dependency levels: level k holds the calls whose inputs
        come only from levels below k (calls of one level can go in one turn)."""
        level: dict[str, int] = {}
        for sq in self.scenario.sub_questions:  # sub-questions are listed in dependency order
            level[sq.id] = 1 + max((level[d] for d in sq.depends_on), default=-1)
        steps: list[list[ToolCall]] = [[] for _ in range(1 + max(level.values(), default=-1))]
        for sq in self.scenario.sub_questions:
            steps[level[sq.id]].append(self.calls[sq.id])
        return tuple(tuple(s) for s in steps)

    def unsolved(self) -> dict[str, tuple[str, ...]]:
        """Tool name -> the sub-answers its golden calls must return, in sub-question order."""
        out: dict[str, list[str]] = {}
        for sq in self.scenario.sub_questions:
            out.setdefault(self.calls[sq.id].name, []).append(sq.answer)
        return {k: tuple(v) for k, v in out.items()}


@attrs.define
class StageContext:
    """What every stage may use: the build ``config``, the ``executor`` that runs tool code,
    an optional ``generator`` (LLM stages), and ``resources`` a source shares with its
    stages (e.g. the procedural world)."""

    config: Any
    executor: Any = None
    generator: Any = None
    resources: dict[str, Any] = attrs.Factory(dict)
    #: each stage's ``Options`` instance (``None`` when it declares none), by stage name
    options: dict[str, Any] = attrs.Factory(dict)
