"""Sources of ready environments: ``ftrl`` (the release's JSONL format) and ``toolhop``.

Both yield :class:`~toolfeedback.types.Environment` objects, which skip the construction
stages and go straight to verification, so ``toolfeedback build --source ftrl`` filters
a released file down to the records that pass. ToolHop rows are converted as the data
README says: ``tools`` = the row's schemas, ``codes`` = each ``def`` of ``functions``
(top-level example statements dropped), ``unsolved_set[tool]`` = the sub-answers of the
sub-questions that tool serves.
"""

from __future__ import annotations

import ast
import hashlib
from typing import Any, Iterator

from toolfeedback import hookimpl
from toolfeedback.errors import ConfigError
from toolfeedback.types import Environment, Pattern, ToolSpec


def _need_input(config) -> str:
    if not config.input:
        raise ConfigError(f"--source {config.source} needs --input FILE")
    return config.input


def function_source(code: str) -> tuple[str, str]:
    """``(function name, source)`` of the first ``def`` in ``code``, keeping imports and
    assignments above it and dropping example calls and prints (top-level statements)."""
    tree = ast.parse(code)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not defs:
        raise ValueError("no function definition")
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                   ast.AsyncFunctionDef, ast.ClassDef))]
    lines = code.splitlines()
    parts = ["\n".join(lines[n.lineno - 1 - len(getattr(n, "decorator_list", ())):n.end_lineno])
             for n in keep]
    return defs[0].name, "\n\n".join(parts) + "\n"


def toolhop_environment(row: Any) -> Environment:
    """Convert one ToolHop row (``question``, ``answer``, ``tools``, ``functions``,
    ``sub_task``) to an environment; raises ``ValueError`` naming the bad field."""
    if not isinstance(row, dict):
        raise ValueError("$: expected a JSON object")
    for key, kind in (("question", str), ("answer", str), ("tools", dict), ("functions", list),
                      ("sub_task", dict)):
        if not isinstance(row.get(key), kind):
            raise ValueError(f"$.{key}: {'missing' if key not in row else 'expected ' + kind.__name__}")
    codes: dict[str, str] = {}
    for i, code in enumerate(row["functions"]):
        try:
            name, source = function_source(code)
        except (SyntaxError, ValueError, TypeError) as exc:
            raise ValueError(f"$.functions[{i}]: {exc}") from None
        codes[name] = source
    tools: list[ToolSpec] = []
    unsolved: dict[str, list[str]] = {}
    for question, schema in row["tools"].items():
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise ValueError(f"$.tools[{question!r}].name: missing")
        spec = ToolSpec.from_openai(schema)
        if spec.name not in unsolved:
            tools.append(spec)
        answer = row["sub_task"].get(question)
        if answer is None:
            raise ValueError(f"$.sub_task: no answer for sub-question {question!r}")
        unsolved.setdefault(spec.name, []).append(str(answer))
    hops = row.get("hop_count")
    return Environment(
        id=str(row.get("id") or "toolhop-" + hashlib.sha1(row["question"].encode()).hexdigest()[:12]),
        messages=({"role": "user", "content": row["question"]},), tools=tuple(tools), codes=codes,
        unsolved={k: tuple(v) for k, v in unsolved.items()}, answer=str(row["answer"]),
        pattern=Pattern.MULTI_HOP if (hops or len(tools)) > 1 else Pattern.SINGLE_HOP,
        source="toolhop", split="test",
        metadata={k: row[k] for k in ("domain", "hop_count", "license", "source_dataset")
                  if k in row})


class FtrlSource:
    """Environments read from a JSONL file in the FTRL release format (``--input``)."""

    name = "ftrl"
    default_stages = "procedural"

    def scenarios(self, config, ctx) -> Iterator[Environment]:
        """Yield each record as an environment; a bad record stops with file:line:field."""
        from toolfeedback.ftrl import read_environments

        for _, env in read_environments(_need_input(config)):
            yield env


class ToolhopSource:
    """ToolHop rows (``--input``, e.g. ``../shared/data/toolhop/*.jsonl``) as environments."""

    name = "toolhop"
    default_stages = "procedural"

    def scenarios(self, config, ctx) -> Iterator[Environment]:
        """Yield each converted row; a bad row stops with file:line:field."""
        from toolfeedback.jsonl import JsonlReader

        for _, env in JsonlReader(_need_input(config), toolhop_environment):
            yield env


@hookimpl
def register_sources(register):
    register(FtrlSource())
    register(ToolhopSource())

