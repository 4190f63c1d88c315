"""BFCL (Berkeley Function Calling Leaderboard v4) adapter: AST call matching, no execution.

Schemas use BFCL's own types (``dict``, ``float``, ``tuple``, ``any``) and dotted names;
:func:`to_openai_tool` maps them to OpenAI schemas (``dict`` -> ``object``, ``float`` ->
``number``, ``tuple`` -> ``array``, dots in names -> ``_``) and :func:`score` maps the
model's names back. A call matches a ground-truth entry when the function name is equal,
every required parameter is present, no unknown parameter is given, an omitted optional
parameter has ``""`` among its allowed values, and each value is of the declared type
(an int is accepted for a float) and within the allowed list (strings compared
case-insensitively without spaces and ``,./-_*^``; lists element-wise; dicts per key).
``simple_python`` and ``multiple`` expect exactly one call; ``parallel`` and
``parallel_multiple`` expect as many calls as ground-truth entries, matched in any order.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple")
TYPE_MAP = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}
_PY_TYPES = {"integer": (int,), "float": (float, int), "number": (float, int), "string": (str,),
             "boolean": (bool,), "array": (list, tuple), "tuple": (list, tuple),
             "dict": (dict,), "object": (dict,)}


def openai_name(name: str) -> str:
    """The OpenAI-safe name of a BFCL function (dots are not allowed there)."""
    return re.sub(r"\.", "_", name)


def _map_schema(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _map_schema(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = TYPE_MAP.get(out["type"], out["type"])
        return out
    if isinstance(schema, list):
        return [_map_schema(v) for v in schema]
    return schema


def to_openai_tool(function: dict) -> dict:
    """A BFCL function document -> an OpenAI tool schema."""
    fn = {"name": openai_name(function["name"]), "description": function.get("description", ""),
          "parameters": _map_schema(copy.deepcopy(function.get("parameters") or {}))}
    return {"type": "function", "function": fn}


def _standardize(text: str) -> str:
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _type_ok(value: Any, kind: str | None) -> bool:
    if kind is None or kind == "any" or kind not in _PY_TYPES:
        return True
    if isinstance(value, bool) and kind not in ("boolean",):
        return False  # bool is an int in Python, not in BFCL
    return isinstance(value, _PY_TYPES[kind])


def _value_matches(value: Any, allowed: Any, schema: dict) -> bool:
    kind = schema.get("type")
    if isinstance(value, str) and isinstance(allowed, str):
        return _standardize(value) == _standardize(allowed)
    if isinstance(value, dict) and isinstance(allowed, dict):
        return _dict_matches(value, allowed, schema.get("properties") or {})
    if isinstance(value, (list, tuple)) and isinstance(allowed, (list, tuple)):
        items = schema.get("items") or {}
        return len(value) == len(allowed) and all(
            _value_matches(v, a, items) for v, a in zip(value, allowed))
    if kind in ("float", "number") and isinstance(value, (int, float)) and isinstance(allowed, (int, float)):
        return float(value) == float(allowed)
    return type(value) is type(allowed) and value == allowed


def _allowed(value: Any, options: list, schema: dict) -> bool:
    return any(_value_matches(value, option, schema) for option in options if option != "")


def _dict_matches(value: dict, allowed: dict, props: dict) -> bool:
    for key, options in allowed.items():
        if key not in value:
            if "" not in options:
                return False
            continue
        if not _allowed(value[key], options, props.get(key) or {}):
            return False
    return all(key in allowed for key in value)


def call_matches(call: dict, truth: dict, functions: dict[str, dict]) -> str | None:
    """``None`` when ``call`` ({name: args}) matches ``truth`` ({name: {param: allowed}}),
    else a one-line reason."""
    (name, args), = call.items()
    (t_name, t_params), = truth.items()
    if name != t_name:
        return f"wrong function {name!r} (expected {t_name!r})"
    if not isinstance(args, dict):
        return "arguments are not an object"
    params = (functions.get(name) or {}).get("parameters") or {}
    props = params.get("properties") or {}
    for req in params.get("required") or []:
        if req not in args:
            return f"missing required parameter {req!r}"
    for key, value in args.items():
        if key not in props or key not in t_params:
            return f"unexpected parameter {key!r}"
        if not _type_ok(value, props[key].get("type")):
            return f"parameter {key!r}: wrong type {type(value).__name__}"
        if not _allowed(value, t_params[key], props[key]):
            return f"parameter {key!r}: value {value!r} not allowed"
    for key, options in t_params.items():
        if key not in args and "" not in options:
            return f"missing parameter {key!r}"
    return None


def score(calls: list[dict], record: dict, truth: list[dict], category: str) -> dict[str, Any]:
    """``{"valid": 0/1, "reason": ...}`` for predicted ``calls`` (each ``{name: args}`` with
    BFCL or OpenAI-mapped names) against the ground truth of ``record``."""
    functions = {f["name"]: f for f in record["function"]}
    back = {openai_name(n): n for n in functions}
    calls = [{back.get(n, n): a for n, a in c.items()} for c in calls]
    if category in ("simple_python", "multiple", "simple") and len(truth) == 1:
        if len(calls) != 1:
            return {"valid": 0.0, "reason": f"expected 1 call, got {len(calls)}"}
        reason = call_matches(calls[0], truth[0], functions)
        return {"valid": 0.0 if reason else 1.0, "reason": reason}
    if len(calls) != len(truth):
        return {"valid": 0.0, "reason": f"expected {len(truth)} calls, got {len(calls)}"}
    ok = _assign(calls, truth, functions, set())
    return {"valid": 1.0 if ok else 0.0, "reason": None if ok else "no order of the calls matches"}


def _assign(calls: list[dict], truth: list[dict], functions: dict, used: set[int]) -> bool:
    # backtracking over which call serves which ground-truth entry (any order)
    if len(used) == len(truth):
        return True
    i = len(used)
    for j, call in enumerate(calls):
        if j in used or call_matches(call, truth[i], functions) is not None:
            continue
        used.add(j)
        if _assign(calls, truth, functions, used):
            return True
        used.discard(j)
    return False


def _read_jsonl(file: Path) -> list[dict]:
    rows = []
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchmarkError(f"{file}: no such file") from None
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{file}:{n}: invalid JSON ({exc.msg})") from None
    return rows


def load(path: str | Path, categories: tuple[str, ...] = CATEGORIES, limit: int = 0) -> list[dict]:
    """``[{"category", "record", "truth"}]`` from a BFCL data folder (with ``possible_answer/``)."""
    path = Path(path)
    out = []
    for category in categories:
        if category not in CATEGORIES:
            raise BenchmarkError(f"unknown BFCL category {category!r} (known: {', '.join(CATEGORIES)})")
        file = path / f"BFCL_v4_{category}.json"
        answers = path / "possible_answer" / f"BFCL_v4_{category}.json"
        truths = {}
        for n, row in enumerate(_read_jsonl(answers), 1):
            if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("ground_truth"), list):
                raise BenchmarkError(f"{answers}:{n}: expected an object with id and ground_truth (a list)")
            truths[row["id"]] = row["ground_truth"]
        for n, record in enumerate(_read_jsonl(file), 1):
            if not isinstance(record, dict) or not isinstance(record.get("function"), list) \
                    or not isinstance(record.get("question"), list) or not record["question"]:
                raise BenchmarkError(f"{file}:{n}: expected an object with question and function lists")
            if record.get("id") not in truths:
                raise BenchmarkError(f"{file}:{n}: $.id: no possible answer")
            out.append({"category": category, "record": record, "truth": truths[record["id"]]})
            if limit and len([o for o in out if o["category"] == category]) >= limit:
                break
    return out


class BFCLEvaluator:
    """``toolfeedback eval --evaluator bfcl --model DIR [--subset simple_python,parallel]``."""

    name = "bfcl"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """One response per question, parsed by the tool format, matched against the answers."""
        from toolfeedback.evaluate.driver import load_runtime, single_turn_answers, write_predictions
        from toolfeedback.generation import ChatRequest

        cats = tuple(s for s in config.subset.split(",") if s) or CATEGORIES
        items = load(config.data or shared_data_dir("bfcl"), cats, config.limit)
        rt = load_runtime(config, pm)
        mode, fmt = rt["mode"], rt["tool_format"]
        requests = [ChatRequest(messages=tuple(mode.prepare_messages(list(it["record"]["question"][0]))),
                                tools=tuple(to_openai_tool(f) for f in it["record"]["function"]),
                                template_kwargs=mode.template_kwargs()) for it in items]
        rows = []
        answers = single_turn_answers(rt, requests, desc="bfcl", batch_size=config.batch_size,
                                      quiet=config.quiet)
        for it, text in zip(items, answers):
            calls = [{c.name: c.arguments} for c in fmt.parse(text).calls]
            result = score(calls, it["record"], it["truth"], it["category"])
            rows.append({"id": it["record"]["id"], "category": it["category"],
                         "response": text, "metrics": result})
        write_predictions(config.predictions, rows)
        return summarize(rows)


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Accuracy overall and per category."""
    cats = sorted({r["category"] for r in rows})
    return {"count": len(rows), "accuracy": mean(r["metrics"]["valid"] for r in rows),
            "by_category": {c: mean(r["metrics"]["valid"] for r in rows if r["category"] == c)
                            for c in cats}}


@hookimpl
def register_evaluators(register):
    register(BFCLEvaluator())
