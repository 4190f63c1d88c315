"""The FTRL reward components: ``solve_f1``, ``solve_precision``, ``solve_rate``, ``solve_pr``
and ``format`` (the rules for responses without tool calls), bit for bit as released.

With ``n`` parsed calls and ``h`` hits: F1 = 2h/(n+1), P = h/n, R = h, PR = h*h/n.
Without calls every solve reward falls back to :func:`no_call_reward`.
"""

from __future__ import annotations

from toolfeedback import hookimpl
from toolfeedback.runtime.step import BROKEN_MARKUP, StepOutcome
from toolfeedback.runtime.matching import final_answer_in
from toolfeedback.contracts import Reward


def no_call_reward(outcome: StepOutcome) -> float:
    """Empty -> -0.5; unparsed call markup -> -0.3; final answer in the content ->
    1/(1+u) with u the answers unsolved before the step; all solved already -> 0.5; else 0."""
    content = outcome.content
    if content is None or content == "":
        return -0.5
    if any(mark in content for mark in BROKEN_MARKUP):
        return -0.3
    if final_answer_in(content, outcome.answer):
        return 1 / (1 + outcome.unsolved_count_before)
    if outcome.solve_rate_before == 1.0:
        return 0.5
    return 0.0


class SolveF1(Reward):
    """2h / (n + 1): the paper's choice (precision and completeness in one)."""

    name = "solve_f1"

    def score(self, outcome: StepOutcome) -> float:
        if not outcome.calls:
            return no_call_reward(outcome)
        return 2 * outcome.n_hits / (outcome.n_calls + 1)


class SolvePrecision(Reward):
    """h / n."""

    name = "solve_precision"

    def score(self, outcome: StepOutcome) -> float:
        if not outcome.calls:
            return no_call_reward(outcome)
        return outcome.n_hits / outcome.n_calls


class SolveRate(Reward):
    """h (as a float)."""

    name = "solve_rate"

    def score(self, outcome: StepOutcome) -> float:
        if not outcome.calls:
            return no_call_reward(outcome)
        return float(outcome.n_hits)


class SolvePR(Reward):
    """h * h / n."""

    name = "solve_pr"

    def score(self, outcome: StepOutcome) -> float:
        if not outcome.calls:
            return no_call_reward(outcome)
        return outcome.n_hits * outcome.n_hits / outcome.n_calls


class FormatReward(Reward):
    """The call-less rules alone (0 for a response with calls): compose it with weights,
    e.g. ``solve_precision:1.0,format:1.0``."""

    name = "format"

    def score(self, outcome: StepOutcome) -> float:
        return 0.0 if outcome.calls else no_call_reward(outcome)


@hookimpl
def register_rewards(register):
    for reward in (SolveF1(), SolvePrecision(), SolveRate(), SolvePR(), FormatReward()):
        register(reward)
