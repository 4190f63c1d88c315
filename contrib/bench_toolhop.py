"""ToolHop adapter: multi-hop questions with executable tools, scored by answer correctness.

A row becomes an :class:`~toolfeedback.types.Environment`: ``tools`` are its schemas,
``codes`` each ``def`` of ``functions`` (top-level example statements after the def are
dropped, so defining a tool never runs or prints anything), ``unsolved[tool]`` the
sub-answers of the sub-questions that tool serves, ``answer`` the final answer.

Answer correctness (AC) follows the FTRL release: the last message must be the
assistant's, with content; AC = 1 when the answer matches that content (the release's
``", "``-split substring rule) or, failing that, the tool output just before it.
Scenarios (the release's prompts): ``direct`` (no tools), ``mandatory`` (must use the
tools), ``free``. Solve-P/R/F1 of the tool calls is reported alongside.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir
from toolfeedback.progress import progress_bar
from toolfeedback.runtime.matching import answer_matches, match_hits
from toolfeedback.types import Environment, Metrics, ToolSpec

DEFAULT_FILE = "toolhop_subset_first50.jsonl"
_FORMAT = ("If the final answer is a date, format is as follows: YYYY-MM-DD (ISO standard)\n"
           "If the final answer is a name, format it as follows: Firstname Lastname\n"
           "If the final answer contains any number, format it as a number, not a word, and only "
           "output that number. Do not include leading 0s.\n\n"
           "Please provide the final answer in the following format: <answer>final answer here</answer>\n"
           "Answer as short as possible.\n")
PROMPTS = {
    "direct": "You will be asked a question, and should provide a short answer.\n" + _FORMAT,
    "mandatory": ("You will be asked a question with some tools, and should provide a short final "
                  "answer.\nPlease note that you must call the tool at every step, you must not use "
                  "your own knowledge. Your final answer must also be returned from the tool.\n" + _FORMAT),
    "free": "You will be asked a question with some tools, and should provide a short final answer.\n" + _FORMAT,
}
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def clean_code(source: str) -> str:
    """Only the imports, definitions and constant assignments of ``source`` (no example calls)."""
    tree = ast.parse(source)
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


def _defined_names(source: str) -> list[str]:
    return [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def to_environment(row: dict, scenario: str = "mandatory") -> Environment:
    """A ToolHop row -> an environment (see the module doc)."""
    if scenario not in PROMPTS:
        raise ValueError(f"$.scenario: unknown {scenario!r} (known: {', '.join(PROMPTS)})")
    schemas = row["tools"]
    if not isinstance(schemas, dict):
        raise ValueError("$.tools: expected an object sub-question -> tool schema")
    codes: dict[str, str] = {}
    for i, source in enumerate(row["functions"]):
        try:
            cleaned = clean_code(source)
        except SyntaxError as exc:
            raise ValueError(f"$.functions[{i}]: not valid Python ({exc.msg})") from None
        for name in _defined_names(cleaned):
            codes.setdefault(name, cleaned)
    unsolved: dict[str, list[str]] = {}
    tools: dict[str, ToolSpec] = {}
    for question, schema in schemas.items():
        spec = ToolSpec.from_openai(schema)
        tools.setdefault(spec.name, spec)
        if question in row["sub_task"]:
            unsolved.setdefault(spec.name, []).append(str(row["sub_task"][question]))
    prompt = PROMPTS[scenario] + f"Question: {row['question']}"
    return Environment(
        id=str(row.get("id", "")), messages=({"role": "user", "content": prompt},),
        tools=tuple(tools.values()) if scenario != "direct" else (), codes=codes,
        unsolved={k: tuple(v) for k, v in unsolved.items()}, answer=str(row["answer"]),
        source=f"ToolHop/{scenario}", split="test",
        metadata={"hop_count": row.get("hop_count"), "category": row.get("category")})


def answer_correct(messages: list[dict], answer: str) -> bool:
    """The release's AC rule on a finished chat (see the module doc)."""
    if not messages or messages[-1].get("role") != "assistant" or not messages[-1].get("content"):
        return False
    if answer_matches(messages[-1]["content"], answer):
        return True
    return (len(messages) > 1 and messages[-2].get("role") == "tool"
            and answer_matches(messages[-2].get("content") or "", answer))


def score(env: Environment, messages: list[dict]) -> dict[str, float]:
    """AC and Solve-P/R/F1 of one finished chat in ``env``."""
    id_to_name = {}
    outputs = []
    for m in messages:
        for call in m.get("tool_calls") or []:
            id_to_name[call.get("id")] = call["function"]["name"]
        if m.get("role") == "tool":
            outputs.append((m.get("name") or id_to_name.get(m.get("tool_call_id"), ""),
                            m.get("content") or ""))
    hits, _ = match_hits(outputs, env.unsolved)
    metrics = Metrics(calls=len(outputs), solved=sum(h is not None for h in hits),
                      total=env.total_answers)
    return {"AC": 1.0 if answer_correct(messages, env.answer) else 0.0,
            "solve_p": metrics.precision, "solve_r": metrics.recall, "solve_f1": metrics.f1}


def load(path: str | Path, scenario: str = "mandatory", limit: int = 0) -> list[Environment]:
    """Environments of a ToolHop JSONL file (or folder holding the default file)."""
    from toolfeedback.jsonl import JsonlReader

    path = Path(path)
    if path.is_dir():
        path = path / DEFAULT_FILE
    envs = []
    for _, env in JsonlReader(path, lambda row: to_environment(row, scenario)):
        envs.append(env)
        if limit and len(envs) >= limit:
            break
    return envs


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Mean AC and solve metrics, overall and per hop count."""
    keys = ("AC", "solve_p", "solve_r", "solve_f1")
    hops = sorted({r["hop_count"] for r in rows if r.get("hop_count") is not None})
    return {"count": len(rows), **{k: mean(r["metrics"][k] for r in rows) for k in keys},
            "by_hops": {str(h): {k: mean(r["metrics"][k] for r in rows if r.get("hop_count") == h)
                                 for k in keys} for h in hops}}


class ToolHopEvaluator:
    """``toolfeedback eval --evaluator toolhop --model DIR [--subset mandatory|free|direct]``."""

    name = "toolhop"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """Play every question (up to 9 turns by default) and score AC."""
        from toolfeedback.rollout.episodes import Episode, run_episodes
        from toolfeedback.evaluate.driver import load_runtime, write_predictions
        from toolfeedback.runtime.executor import InProcessExecutor

        scenario = config.subset or "mandatory"
        try:
            envs = load(config.data or shared_data_dir("toolhop"), scenario, config.limit)
        except ValueError as exc:
            raise BenchmarkError(str(exc)) from None
        rt = load_runtime(config, pm, require_tools=scenario != "direct")
        episodes = [Episode(key=e.id, messages=list(e.messages),
                            tools=[t.to_openai() for t in e.tools], codes=e.codes) for e in envs]
        bar = progress_bar(len(episodes), "toolhop", quiet=config.quiet)
        executor = InProcessExecutor()
        try:
            run_episodes(episodes, generator=rt["generator"], tool_format=rt["tool_format"],
                         mode=rt["mode"], executor=executor, params=rt["params"],
                         max_turns=config.max_turns or 9, progress=bar)
        finally:
            executor.close()
            bar.close()
        rows = [{"id": e.id, "hop_count": e.metadata.get("hop_count"), "data_source": e.source,
                 "messages": ep.messages, "metrics": score(e, ep.messages)}
                for e, ep in zip(envs, episodes)]
        write_predictions(config.predictions, rows)
        return {"scenario": scenario, **summarize(rows)}


@hookimpl
def register_evaluators(register):
    register(ToolHopEvaluator())
