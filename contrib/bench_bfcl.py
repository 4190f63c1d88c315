"""BFCL (Berkeley Function Calling Leaderboard v4) adapter, scored by the official checker.

Categories: the AST ones (``simple_python``, ``simple_java``, ``simple_javascript``,
``multiple``, ``parallel``, ``parallel_multiple`` and their ``live_`` versions) are
matched call by call against the possible answers; ``irrelevance``, ``live_irrelevance``
(no call is right) and ``live_relevance`` (some call is right) by whether the answer has
a call. Data: ``--data`` (a folder with ``BFCL_v4_<category>.json`` and
``possible_answer/``), else the data the installed ``bfcl-eval`` package ships, else
``../shared/data/bfcl``; by default every category found there.

Scoring goes through the official checker (``bfcl_eval``'s ``ast_checker``, extra
``bfcl``) when it is installed, else through our fallback
(:mod:`toolfeedback.contrib.bfcl_checker`), which follows the same rules and is tested to
agree with it on every record the package ships; the report names the one used.

Schemas are given to the model as OpenAI tools the way BFCL's own harness does: BFCL
types mapped to JSON-schema ones (``dict`` -> ``object``, ``float`` -> ``number``,
``tuple`` -> ``array``, ``any`` -> ``string``), dots in names -> ``_`` (mapped back before
checking), and for Java / JavaScript every parameter a string in the language's syntax,
with BFCL's hints added to the descriptions.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.contrib import bfcl_checker, bfcl_multi_turn, bfcl_official
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir
from toolfeedback.contracts import Evaluator

AST_CATEGORIES = ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel",
                  "parallel_multiple", "live_simple", "live_multiple", "live_parallel",
                  "live_parallel_multiple")
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")
SINGLE_TURN_CATEGORIES = AST_CATEGORIES + RELEVANCE_CATEGORIES
MULTI_TURN_CATEGORIES = bfcl_multi_turn.CATEGORIES  # need bfcl-eval: its backends run the calls
CATEGORIES = SINGLE_TURN_CATEGORIES + MULTI_TURN_CATEGORIES
# BFCL ships these too; they need its agentic harness (live web search, memory backends
# with an embedding model, its own prompt formats) and are refused with a clear message
UNSUPPORTED = ("memory", "web_search", "format_sensitivity")
TYPE_MAP = {"dict": "object", "float": "number", "tuple": "array", "any": "string",
            "bool": "boolean", "list": "array", "byte": "integer", "short": "integer",
            "long": "integer", "double": "number", "char": "string", "Any": "string",
            "String": "string", "Bigint": "integer"}


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


def _language_hints(function: dict, language: str) -> dict:
    # what BFCL's harness tells a model about Java / JavaScript parameters
    name = {"java": "Java", "javascript": "JavaScript"}[language]
    function["description"] = function.get("description", "") + (
        " Note that the provided function is in Java 8 SDK syntax." if language == "java"
        else " Note that the provided function is in JavaScript syntax.")
    for value in ((function.get("parameters") or {}).get("properties") or {}).values():
        if not isinstance(value, dict):
            continue
        kind = value.get("type")
        value["description"] = value.get("description", "") + (
            f" This parameter can be of any type of {name} object in string representation."
            if kind == "any" else f" This is {name} {kind} type parameter in string representation.")
        if kind in ("ArrayList", "Array", "array") and isinstance(value.get("items"), dict):
            value["description"] += (f" The list elements are of type {value['items'].get('type')};"
                                     " they are not in string representation.")
            del value["items"]
        if kind == "dict" and language == "javascript" and "properties" in value:
            value["description"] += (" The dictionary entries have the following schema; they are "
                                     f"not in string representation. {json.dumps(value['properties'])}")
            del value["properties"]
        value["type"] = "string"
    return function


def to_openai_tool(function: dict, category: str = "simple_python") -> dict:
    """A BFCL function document -> an OpenAI tool schema (see the module doc)."""
    function = copy.deepcopy(function)
    language = bfcl_checker.language_of(category)
    if language != "python":
        function = _language_hints(function, language)
    params = _map_schema(function.get("parameters") or {})
    if isinstance(params, dict):
        params["type"] = "object"
    fn = {"name": openai_name(function["name"]), "description": function.get("description", ""),
          "parameters": params}
    return {"type": "function", "function": fn}


def official_available() -> bool:
    """Whether scoring goes through the official checker."""
    return bfcl_official.available()


def score(calls: list[dict], record: dict, truth: list[dict] | None, category: str, *,
          official: bool | None = None) -> dict[str, Any]:
    """``{"valid": 0/1, "reason": ...}`` for predicted ``calls`` (each ``{name: args}``, with
    BFCL or OpenAI-mapped names) on one record; ``official=None`` uses the official checker
    when it is installed."""
    if category in RELEVANCE_CATEGORIES:
        has_call = any(isinstance(c, dict) and c for c in calls)
        ok = not has_call if "irrelevance" in category else has_call
        return {"valid": 1.0 if ok else 0.0,
                "reason": None if ok else ("a call where none is right" if has_call else "no call")}
    functions = [f for f in record["function"] if isinstance(f, dict)]
    back = {openai_name(f["name"]): f["name"] for f in functions if isinstance(f.get("name"), str)}
    calls = [{back.get(n, n): a for n, a in c.items()} if isinstance(c, dict) else c for c in calls]
    use_official = official_available() if official is None else official
    checker = bfcl_official if use_official else bfcl_checker
    result = checker.check(functions, calls, truth or [], category)
    return {"valid": 1.0 if result["valid"] else 0.0, "reason": result["error"]}


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


def categories_in(path: Path) -> tuple[str, ...]:
    """The supported categories with a data file in ``path``, in BFCL's order (multi-turn
    ones only when bfcl-eval is installed)."""
    usable = CATEGORIES if bfcl_official.available() else SINGLE_TURN_CATEGORIES
    return tuple(c for c in usable if (path / f"BFCL_v4_{c}.json").exists())


def data_folder(config_data: str | None) -> Path:
    """``--data``, else the installed package's data, else ``../shared/data/bfcl``."""
    if config_data:
        return Path(config_data)
    if bfcl_official.available():
        return bfcl_official.data_dir()
    return shared_data_dir("bfcl")


def load(path: str | Path, categories: tuple[str, ...] = (), limit: int = 0) -> list[dict]:
    """``[{"category", "record", "truth"}]`` from a BFCL data folder (with
    ``possible_answer/`` for the AST categories); ``categories`` default to every
    supported one found there."""
    path = Path(path)
    out = []
    for category in categories or categories_in(path):
        if category in UNSUPPORTED:
            raise BenchmarkError(f"BFCL category {category!r} needs BFCL's agentic harness, not "
                                 f"supported here (supported: {', '.join(CATEGORIES)})")
        if category in MULTI_TURN_CATEGORIES and not bfcl_official.available():
            raise BenchmarkError(f"BFCL category {category!r} runs on bfcl-eval's backends: "
                                 f"pip install --no-deps bfcl-eval")
        if category not in CATEGORIES:
            raise BenchmarkError(f"unknown BFCL category {category!r} (known: {', '.join(CATEGORIES)})")
        file = path / f"BFCL_v4_{category}.json"
        truths: dict = {}
        if category not in RELEVANCE_CATEGORIES:
            answers = path / "possible_answer" / f"BFCL_v4_{category}.json"
            for n, row in enumerate(_read_jsonl(answers), 1):
                if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("ground_truth"), list):
                    raise BenchmarkError(f"{answers}:{n}: expected an object with id and ground_truth (a list)")
                truths[row["id"]] = row["ground_truth"]
        kept = 0
        for n, record in enumerate(_read_jsonl(file), 1):
            key = "involved_classes" if category in MULTI_TURN_CATEGORIES else "function"
            if not isinstance(record, dict) or not isinstance(record.get(key), list) \
                    or not isinstance(record.get("question"), list) or not record["question"] \
                    or not all(isinstance(turn, list) for turn in record["question"]):
                raise BenchmarkError(f"{file}:{n}: expected an object with question (a list of "
                                     f"turns) and {key} lists")
            if category not in RELEVANCE_CATEGORIES and record.get("id") not in truths:
                raise BenchmarkError(f"{file}:{n}: $.id: no possible answer")
            out.append({"category": category, "record": record, "truth": truths.get(record.get("id"))})
            kept += 1
            if limit and kept >= limit:
                break
    return out


class BFCLEvaluator(Evaluator):
    """``toolfeedback eval --evaluator bfcl --model DIR [--subset simple_python,live_simple,...]``."""

    name = "bfcl"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """One response per question, parsed by the tool format, matched against the answers."""
        from toolfeedback.evaluate.driver import load_runtime, play, take_shard, write_predictions
        from toolfeedback.rollout.engine import Policy
        from toolfeedback.types import Environment, ToolSpec

        cats = tuple(s for s in config.subset.split(",") if s)
        items = take_shard(load(data_folder(config.data), cats, config.limit), config)
        for position, it in enumerate(items):
            it["position"] = position
        rt = load_runtime(config, pm)
        single = [it for it in items if it["category"] not in MULTI_TURN_CATEGORIES]
        multi = [it for it in items if it["category"] in MULTI_TURN_CATEGORIES]
        # Single-turn categories: the agent loop with one turn and no executor (parsed, not run).
        envs = [Environment(id=str(it["record"]["id"]), messages=tuple(it["record"]["question"][0]),
                            tools=tuple(ToolSpec.from_openai(to_openai_tool(f, it["category"]))
                                        for f in it["record"]["function"]),
                            codes={}, unsolved={}, answer="") for it in single]
        rows = []
        episodes = play(rt, envs, policy=Policy(max_turns=1), desc="bfcl", batch_size=config.batch_size,
                        quiet=config.quiet)
        for it, ep in zip(single, episodes):
            step = ep.steps[0]
            calls = [{c.name: c.arguments} for c in step.calls]
            result = score(calls, it["record"], it["truth"], it["category"])
            rows.append({"id": it["record"]["id"], "category": it["category"],
                         "response": step.content, "metrics": result})
        if multi:
            played = bfcl_multi_turn.play(multi, rt, to_openai_tool,
                                          max_steps=config.max_turns or bfcl_multi_turn.MAX_STEPS)
            for it, run in zip(multi, played):
                result = bfcl_multi_turn.check(it["record"], it["truth"], run["turns"], run["forced"],
                                               it["category"])
                rows.append({"id": it["record"]["id"], "category": it["category"],
                             "messages": run["messages"], "calls": run["turns"],
                             "metrics": {"valid": 1.0 if result["valid"] else 0.0,
                                         "reason": result["error"]}})
        # rows in record order, so that shards' rows interleave into a whole run's
        order = [it["position"] for it in single] + [it["position"] for it in multi]
        rows = [row for _, row in sorted(zip(order, rows), key=lambda pair: pair[0])]
        write_predictions(config.predictions, rows)
        return self.report(config, rows)

    def report(self, config, rows: list[dict]) -> dict[str, Any]:
        """The report of these prediction rows (sharded runs merge the rows, then call this)."""
        checker = f"bfcl-eval {bfcl_official.version()}" if official_available() else "fallback"
        return {"checker": checker, **summarize(rows)}


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Accuracy overall and per category."""
    cats = sorted({r["category"] for r in rows})
    return {"count": len(rows), "accuracy": mean(r["metrics"]["valid"] for r in rows),
            "by_category": {c: mean(r["metrics"]["valid"] for r in rows if r["category"] == c)
                            for c in cats}}


@hookimpl
def register_evaluators(register):
    register(BFCLEvaluator())
