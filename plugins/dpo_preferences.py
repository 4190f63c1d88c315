"""Step-level preference pairs for DPO, built deterministically from verifiable rewards.

For each step prompt, K sampled responses are scored with the reward; the best and the
worst become one ``(chosen, rejected)`` pair when their rewards differ by more than a
margin. Ties are broken by order: the first response with the highest reward is chosen,
the first with the lowest is rejected, so the same inputs always give the same pairs.

Example::

    >>> pairs = build_pairs([("s1", "P", [ScoredResponse("a", 0.0), ScoredResponse("b", 1.0)])])
    >>> (pairs[0].chosen, pairs[0].rejected)
    ('b', 'a')
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

from attrs import frozen

from toolfeedback.errors import InputError


@frozen
class ScoredResponse:
    """One sampled response and its verifiable reward."""

    text: str
    reward: float


@frozen
class PreferencePair:
    """A DPO pair for one step prompt (``key`` is the step sample id)."""

    key: str
    prompt: str
    chosen: str
    rejected: str
    chosen_reward: float
    rejected_reward: float

    def as_row(self) -> dict[str, Any]:
        """A TRL DPO row (``prompt``, ``chosen``, ``rejected``) plus the rewards and key."""
        return {"id": self.key, "prompt": self.prompt, "chosen": self.chosen,
                "rejected": self.rejected, "chosen_reward": self.chosen_reward,
                "rejected_reward": self.rejected_reward}


def best_worst(responses: Sequence[ScoredResponse], margin: float = 0.0
               ) -> tuple[ScoredResponse, ScoredResponse] | None:
    """``(best, worst)`` when ``best.reward - worst.reward > margin``, else ``None``."""
    if len(responses) < 2:
        return None
    best = worst = responses[0]
    for item in responses[1:]:
        if item.reward > best.reward:
            best = item
        if item.reward < worst.reward:
            worst = item
    if best.reward - worst.reward <= margin or best.text == worst.text:
        return None
    return best, worst


def build_pairs(groups: Iterable[tuple[str, str, Sequence[ScoredResponse]]], margin: float = 0.0
                ) -> list[PreferencePair]:
    """One pair per ``(key, prompt, responses)`` group whose rewards differ enough, in input order."""
    if margin < 0:
        raise ValueError("margin must be >= 0")
    pairs = []
    for key, prompt, responses in groups:
        found = best_worst(list(responses), margin)
        if found is not None:
            best, worst = found
            pairs.append(PreferencePair(key, prompt, best.text, worst.text, best.reward, worst.reward))
    return pairs


def rollout_id(env_id: str, sample: int, step: int) -> str:
    """The step-sample id ``toolfeedback rollout --samples-out`` gives step ``step`` of
    episode ``(env_id, sample)``."""
    return f"{env_id}#{sample}.{step}"


def read_responses(path: str | os.PathLike, id_of=rollout_id) -> dict[str, list[str]]:
    """Sampled responses per step-sample id, from JSONL lines of either kind:

    * ``{"id": ..., "response": "..."}`` or ``{"id": ..., "responses": [...]}``;
    * trajectory lines of ``toolfeedback rollout`` (``env_id``, ``sample``, ``steps`` with
      ``index`` and ``response``): step ``k`` answers step sample ``id_of(env_id, sample, k)``.

    Errors name ``file:line: $.field``.
    """
    from toolfeedback.jsonl import JsonlReader

    def parse(obj: Any) -> list[tuple[str, list[str]]]:
        if not isinstance(obj, dict):
            raise ValueError("$: expected a JSON object")
        if "steps" in obj and "env_id" in obj:
            return _trajectory_responses(obj, id_of)
        key = obj.get("id")
        if not isinstance(key, str) or not key:
            raise ValueError("$.id: expected a non-empty string")
        if "responses" in obj:
            texts = obj["responses"]
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError("$.responses: expected a list of strings")
            return [(key, list(texts))]
        text = obj.get("response")
        if not isinstance(text, str):
            raise ValueError("$.response: expected a string (or $.responses: a list)")
        return [(key, [text])]

    if not os.path.isfile(path):
        raise InputError("no such file", path=str(path))
    found: dict[str, list[str]] = {}
    for _, items in JsonlReader(path, parse, on_error="stop"):
        for key, texts in items:
            found.setdefault(key, []).extend(texts)
    return found


def _trajectory_responses(obj: dict, id_of) -> list[tuple[str, list[str]]]:
    env_id, sample, steps = obj["env_id"], obj.get("sample", 0), obj["steps"]
    if not isinstance(env_id, str) or not isinstance(sample, int) or not isinstance(steps, list):
        raise ValueError("$: a trajectory needs env_id (string), sample (integer), steps (list)")
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("response"), str):
            raise ValueError(f"$.steps[{i}].response: expected a string")
        index = step.get("index", i)
        out.append((id_of(env_id, sample, index), [step["response"]]))
    return out


def prompt_signature(env) -> str:
    """Identical step prompts (same chat prefix, tools, open answers, solve rate, answer) share
    a signature, so responses sampled in different episodes pool into one group."""
    import json

    return json.dumps([list(env.messages), [t.to_openai() for t in env.tools],
                       {k: list(v) for k, v in sorted(env.unsolved.items())}, env.solve_rate,
                       env.answer], sort_keys=True, ensure_ascii=False, default=str)
