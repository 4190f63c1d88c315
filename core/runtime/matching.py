"""The answer-match rule of the FTRL release, to the letter.

A tool output *hits* a gold answer when every ``", "``-separated part of the answer,
lowercased with commas removed and stripped, is a substring of the output, lowercased
with commas removed and stripped. Dict and list outputs are first serialized with
``json.dumps(value, ensure_ascii=False)``, other non-strings with ``str()``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence


def serialize_output(value: Any) -> str:
    """Serialize a tool's return value as the release does (exact types only, not subclasses)."""
    if type(value) is dict or type(value) is list:  # noqa: E721 - the release checks exact types
        return json.dumps(value, ensure_ascii=False)
    if type(value) is not str:  # noqa: E721
        return str(value)
    return value


def normalize(text: str) -> str:
    """Lowercase, drop commas, strip: the release's normalization for matching."""
    return text.lower().replace(",", "").strip()


def answer_matches(output: Any, answer: str) -> bool:
    """True when ``output`` contains every part of ``answer`` (see module doc)."""
    predict = normalize(serialize_output(output))
    return all(normalize(part) in predict for part in answer.split(", "))


def final_answer_in(content: str, answer: str | None) -> bool:
    """The release's final-answer check: normalized answer as a substring of the content."""
    return answer is not None and normalize(answer) in normalize(content)


def match_hits(outputs: Sequence[tuple[str, str]], unsolved: Mapping[str, Sequence[str]]
               ) -> tuple[list[str | None], dict[str, tuple[str, ...]]]:
    """Match ``(tool name, output text)`` pairs against the unsolved answers, in call order.

    A tool's answers are tried in order and at most one is removed per call. Returns the
    answer hit by each call (``None`` for a miss) and a new unsolved mapping; the
    caller's mapping is never mutated.
    """
    remaining = {name: list(answers) for name, answers in unsolved.items()}
    hits: list[str | None] = []
    for name, output in outputs:
        hit = None
        answers = remaining.get(name, [])
        for answer in answers:
            if answer_matches(output, answer):
                answers.remove(answer)
                hit = answer
                break
        hits.append(hit)
    return hits, {name: tuple(answers) for name, answers in remaining.items()}
