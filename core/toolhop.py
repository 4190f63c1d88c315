"""ToolHop rows -> :class:`~toolfeedback.types.Environment`: the one converter.

Used by the ``toolhop`` source (``toolfeedback build --source toolhop``) and by the
``toolhop`` benchmark. A row holds ``question``, ``answer``, ``tools`` (sub-question ->
OpenAI function schema), ``sub_task`` (sub-question -> sub-answer) and ``functions`` in
either layout:

- a list of Python sources, one per tool (the ToolHop data set on the Hub and
  ``../shared/data/toolhop``): each source is filed under the functions it defines;
- an object tool name -> Python source (the FTRL release's ``Data/jsonl/raw/ToolHop.jsonl``).

Each source keeps only its imports, definitions and literal assignments (the example
calls and prints after the ``def`` are dropped, so defining a tool runs nothing), moved
into the tool's function (:func:`toolfeedback.ftrl.self_contained`) so the release's
executor runs it too.
``unsolved[tool]`` are the sub-answers of the sub-questions that tool serves (none when the
row has no ``sub_task``); ``answer``
the final answer; ``messages`` the row's own ``messages`` when it has them (the release
reuses them), else the bare question (a benchmark scenario adds its prompt).
"""

from __future__ import annotations

import ast
import hashlib
from typing import Any

from .ftrl import self_contained
from .types import Environment, Pattern, ToolSpec
from .pysource import parse as parse_source

_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def clean_code(source: str) -> str:
    """Only the imports, definitions and literal assignments of ``source`` (no example calls)."""
    tree = parse_source(source)
    kept = []
    for node in tree.body:
        if isinstance(node, _KEEP):
            kept.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            kept.append(node)
    return "\n\n".join(ast.get_source_segment(source, n) or ast.unparse(n) for n in kept) + "\n"


def defined_functions(source: str) -> list[str]:
    """Names of the top-level functions ``source`` defines."""
    return [n.name for n in parse_source(source).body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _codes(functions: Any) -> dict[str, str]:
    if isinstance(functions, dict):
        items = [(f"$.functions.{name}", name, code) for name, code in functions.items()]
    elif isinstance(functions, list):
        items = [(f"$.functions[{i}]", None, code) for i, code in enumerate(functions)]
    else:
        raise ValueError("$.functions: expected a list of sources or an object name -> source")
    codes: dict[str, str] = {}
    for where, name, code in items:
        if not isinstance(code, str):
            raise ValueError(f"{where}: expected Python source as a string")
        try:
            cleaned = clean_code(code)
        except SyntaxError as exc:
            raise ValueError(f"{where}: not valid Python ({exc.msg}, line {exc.lineno})") from None
        names = defined_functions(cleaned)
        if name is not None:
            if name not in names:
                raise ValueError(f"{where}: defines no function {name!r}")
            codes[name] = _contained(cleaned, name)
            continue
        if not names:
            raise ValueError(f"{where}: no function definition")
        for defined in names:
            codes.setdefault(defined, _contained(cleaned, defined))
    return codes


def _contained(code: str, name: str) -> str:
    try:  # one self-contained function, so the release's executor runs it too
        return self_contained(code, name)
    except (ValueError, SyntaxError):
        return code


def to_environment(row: Any) -> Environment:
    """Convert one ToolHop row (see the module doc); ``ValueError`` names the bad field."""
    if not isinstance(row, dict):
        raise ValueError("$: expected a JSON object")
    for key, kind in (("question", str), ("tools", dict), ("sub_task", dict)):
        if key == "sub_task" and key not in row:
            continue  # the release's ToolHop.jsonl may leave it out: no sub-answers then
        if not isinstance(row.get(key), kind):
            raise ValueError(f"$.{key}: {'missing' if key not in row else 'expected ' + kind.__name__}")
    if "answer" not in row or row["answer"] is None:
        raise ValueError("$.answer: missing")
    if "functions" not in row:
        raise ValueError("$.functions: missing")
    codes = _codes(row["functions"])
    tools: dict[str, ToolSpec] = {}
    unsolved: dict[str, list[str]] = {}
    for question, schema in row["tools"].items():
        schema = schema.get("function", schema) if isinstance(schema, dict) else schema
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise ValueError(f"$.tools[{question!r}].name: missing")
        spec = ToolSpec.from_openai(schema)
        tools.setdefault(spec.name, spec)
        if spec.name not in codes:
            raise ValueError(f"$.functions: no code for tool {spec.name!r}")
        if "sub_task" not in row:
            continue
        answer = row["sub_task"].get(question)
        if answer is None:
            raise ValueError(f"$.sub_task: no answer for sub-question {question!r}")
        unsolved.setdefault(spec.name, []).append(str(answer))
    messages = row.get("messages")
    if messages:
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ValueError("$.messages: expected a list of message objects")
    else:
        messages = [{"role": "user", "content": row["question"]}]
    hops = row.get("hop_count")
    digest = hashlib.sha1(row["question"].encode()).hexdigest()[:12]
    return Environment(
        id=str(row.get("id") or f"toolhop-{digest}"), messages=tuple(messages),
        tools=tuple(tools.values()), codes=codes,
        unsolved={k: tuple(v) for k, v in unsolved.items()}, answer=str(row["answer"]),
        pattern=Pattern.MULTI_HOP if (hops or len(tools)) > 1 else Pattern.SINGLE_HOP,
        source="toolhop", split="test",
        metadata={k: row[k] for k in ("domain", "hop_count", "category", "license",
                                      "source_dataset") if k in row})
