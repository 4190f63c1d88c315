"""The ``jsonl`` source: the user's questions, built into environments by the ``llm`` stages.

One JSON object per line: ``question`` and ``answer`` (required), optional ``id``,
``split`` and a decomposition (``sub_questions``: ``[{"id", "question", "answer",
"depends_on"}]`` and ``pattern``) that the ``llm`` decompose stage then uses instead of
asking the model. Without a ``split``, a stable hash of the question decides it, so a
question is in one split only.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

from toolfeedback import hookimpl
from toolfeedback.build.construction import Question
from toolfeedback.errors import ConfigError
from toolfeedback.contracts import Source


def _stable(text: str) -> float:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2 ** 64


def question_from_row(row: Any, *, lineno: int = 0, test_fraction: float = 0.0) -> Question:
    """Validate one input row; ``ValueError`` messages start with the ``$.field`` path."""
    if not isinstance(row, dict):
        raise ValueError("$: expected a JSON object")
    for key in ("question", "answer"):
        value = row.get(key)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
            raise ValueError(f"$.{key}: {'missing' if key not in row else 'expected a non-empty string'}")
    split = row.get("split")
    if split is not None and split not in ("train", "test"):
        raise ValueError("$.split: expected 'train' or 'test'")
    if split is None:
        split = "test" if _stable(str(row["question"])) < test_fraction else "train"
    subs = row.get("sub_questions")
    if subs is not None and not isinstance(subs, list):
        raise ValueError("$.sub_questions: expected a list")
    payload = {k: row[k] for k in ("sub_questions", "pattern") if row.get(k) is not None}
    qid = row.get("id")
    if qid is not None and not isinstance(qid, (str, int)):
        raise ValueError("$.id: expected a string")
    return Question(id=str(qid) if qid is not None else f"q-{lineno:06d}",
                    question=str(row["question"]).strip(), answer=str(row["answer"]).strip(),
                    split=split, payload=payload)


class JsonlSource(Source):
    """Questions from ``--input FILE``; bad lines stop the build naming file:line:field."""

    name = "jsonl"
    default_stages = "llm"

    def check(self, config) -> None:
        """The source needs an input file."""
        if not config.input:
            raise ConfigError("--source jsonl needs --input FILE (one question per line)")

    def scenarios(self, config, ctx) -> Iterator[Question]:
        """Yield each line's question lazily."""
        from toolfeedback.jsonl import JsonlReader

        self.check(config)
        reader = JsonlReader(config.input, lambda row: row)
        for lineno, row in reader:
            try:
                yield question_from_row(row, lineno=lineno, test_fraction=config.test_fraction)
            except ValueError as exc:
                field, _, message = str(exc).partition(": ")
                from toolfeedback.errors import InputError

                raise InputError(message, path=config.input, line=lineno, field=field) from None


@hookimpl
def register_sources(register):
    register(JsonlSource())
