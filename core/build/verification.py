"""Checking one environment: static checks of schemas and code, then golden replay.

Returns ``None`` when the environment is sound, otherwise a one-line reason whose text
before the first ``": "`` names the kind of failure (rejections are counted by kind).
"""

from __future__ import annotations

import ast
import threading
from functools import lru_cache

from ..runtime.matching import answer_matches, match_hits
from ..types import Environment
from ..pysource import compile_tree, parse as parse_source


# CPython 3.11 can corrupt its AST recursion counter when threads parse at the same time
# ("AST constructor recursion depth mismatch"); build verifies from several threads.
_PARSE_LOCK = threading.Lock()


@lru_cache(maxsize=256)
def code_problem(name: str, code: str) -> str | None:
    """Why ``code`` does not define tool ``name`` (syntax error, no such function), or None.

    A small cache: identical tools (calculators, converters) repeat across environments,
    and a large one would hold many code strings (memory must stay flat as N grows).
    """
    try:
        with _PARSE_LOCK:
            tree = parse_source(code)
            compile_tree(tree, f"<tool {name}>")
    except (SyntaxError, ValueError) as exc:
        return f"code does not compile: tool {name}: {exc}"
    defined = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if name not in defined:
        return f"code does not define its tool: {name}"
    return None


def static_problem(env: Environment, *, executed: frozenset[str] = frozenset()) -> str | None:
    """Schema and code checks that need no execution. The code of tools in ``executed``
    is not parsed here: the golden replay runs it and reports what fails to compile."""
    names = env.tool_names()
    if len(set(names)) != len(names):
        return "duplicate tool name: " + ", ".join(sorted({n for n in names if names.count(n) > 1}))
    for spec in env.tools:
        params = spec.parameters
        if params.get("type", "object") != "object" or not isinstance(params.get("properties", {}), dict):
            return f"tool parameters are not a JSON-schema object: {spec.name}"
        missing = [r for r in params.get("required", []) if r not in params.get("properties", {})]
        if missing:
            return f"required parameter not declared: {spec.name}: {', '.join(missing)}"
        if spec.name not in env.codes:
            return f"tool has no code: {spec.name}"
        if spec.name not in executed:
            problem = code_problem(spec.name, env.codes[spec.name])
            if problem:
                return problem
    for name in env.unsolved:
        if name not in names:
            return f"expected answers for an unknown tool: {name}"
    if env.total_answers == 0 and not env.golden and env.solve_rate == 0:
        return "no expected answers: unsolved_set is empty"
    for name in env.metadata.get("distractors", ()) if isinstance(env.metadata, dict) else ():
        if env.unsolved.get(name):
            return f"distractor tool solves a sub-question: {name}"
    return None


def _argument_problem(env: Environment, call) -> str | None:
    spec = next((t for t in env.tools if t.name == call.name), None)
    if spec is None:
        return f"golden call to an unknown tool: {call.name}"
    if not isinstance(call.arguments, dict):
        return f"golden arguments are not an object: {call.name}"
    props = spec.parameters.get("properties", {})
    missing = [r for r in spec.parameters.get("required", []) if r not in call.arguments]
    if missing:
        return f"golden call lacks required arguments: {call.name}: {', '.join(missing)}"
    unknown = [k for k in call.arguments if k not in props]
    if unknown:
        return f"golden call has undeclared arguments: {call.name}: {', '.join(unknown)}"
    for key, value in call.arguments.items():
        enum = props[key].get("enum") if isinstance(props[key], dict) else None
        if enum is not None and value not in enum:
            return f"golden argument outside its enum: {call.name}.{key}={value!r}"
    return None


def check_environment(env: Environment, executor, *, timeout: float | None = None) -> str | None:
    """Static checks, then (when ``env.golden`` is set) replay the golden steps through
    ``executor``: every call must succeed, every expected answer must be solved, and the
    final answer must follow from what the calls returned."""
    executed = frozenset(c.name for step in env.golden for c in step)
    problem = static_problem(env, executed=executed)
    if problem or not env.golden:
        return problem
    for step in env.golden:
        for call in step:
            problem = _argument_problem(env, call)
            if problem:
                return problem
    unsolved = {k: tuple(v) for k, v in env.unsolved.items()}
    outputs: list[str] = []
    for step in env.golden:
        results = executor.run_calls(env.id, env.codes, list(step), timeout=timeout)
        for result in results:
            if not result.ok:  # a code that does not compile or define its tool lands here too
                problem = code_problem(result.name, env.codes.get(result.name, ""))
                return problem or f"golden call failed: {result.name}: {result.error}"
        _, unsolved = match_hits([(r.name, r.content) for r in results], unsolved)
        outputs.extend(r.content for r in results)
    left = [f"{name}={answer!r}" for name, answers in unsolved.items() for answer in answers]
    if left:
        return "golden replay leaves answers unsolved: " + ", ".join(left[:5])
    if env.answer and not answer_matches(" ".join(outputs), env.answer):
        return f"final answer does not follow from the golden outputs: {env.answer!r}"
    return None
