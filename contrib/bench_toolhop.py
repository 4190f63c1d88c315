"""ToolHop adapter: multi-hop questions with executable tools, scored by answer correctness.

A row becomes an :class:`~toolfeedback.types.Environment` through
:func:`toolfeedback.toolhop.to_environment` (the converter the ``toolhop`` source uses
too; ``functions`` as a list of sources or as the release's name -> source object), with
the scenario's prompt (the release's wording) as the user message.

Answer correctness (AC) follows the FTRL release: the last message must be the
assistant's, with content; AC = 1 when the answer matches that content (the release's
``", "``-split substring rule) or, failing that, the tool output just before it.
Scenarios (the release's prompts): ``direct`` (no tools), ``mandatory`` (must use the
tools), ``free``. Solve-P/R/F1 of the tool calls is reported alongside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from toolfeedback import hookimpl, toolhop
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir
from toolfeedback.runtime.matching import answer_matches, match_hits
from toolfeedback.types import Environment, Metrics
from toolfeedback.contracts import Evaluator

DEFAULT_FILE = "toolhop_subset_first50.jsonl"
# The release's prompts, verbatim (typo "final nswer" included: the published figures used it).
_DIRECT = ("You will be asked a question, and should provide a short answer.\n"
           "If the answer is a date, format is as follows: YYYY-MM-DD (ISO standard)\n"
           "If the answer is a name, format it as follows: Firstname Lastname\n"
           "If the answer contains any number, format it as a number, not a word, and only output "
           "that number. Do not include leading 0s.\n\n"
           "Please provide the answer in the following format: <answer>your answer here</answer>\n"
           "Answer as short as possible.\n")
_TOOLS = ("If the final answer is a date, format is as follows: YYYY-MM-DD (ISO standard)\n"
          "If the final nswer is a name, format it as follows: Firstname Lastname\n"
          "If the final answer contains any number, format it as a number, not a word, and only "
          "output that number. Do not include leading 0s.\n\n"
          "Please provide the final answer in the following format: <answer>final answer here</answer>\n"
          "Answer as short as possible.\n")
PROMPTS = {
    "direct": _DIRECT,
    "mandatory": ("You will be asked a question with some tools, and should provide a short final "
                  "answer.\nPlease note that you must call the tool at every step, you must not use "
                  "your own knowledge. Your final answer must also be returned from the tool.\n" + _TOOLS),
    "free": "You will be asked a question with some tools, and should provide a short final answer.\n" + _TOOLS,
}


def to_environment(row: dict, scenario: str = "mandatory") -> Environment:
    """A ToolHop row (either layout) -> an environment prompted for ``scenario``."""
    if scenario not in PROMPTS:
        raise ValueError(f"$.scenario: unknown {scenario!r} (known: {', '.join(PROMPTS)})")
    env = toolhop.to_environment(row)
    messages = env.messages
    if not row.get("messages"):  # the release keeps a row's own messages as they are
        messages = ({"role": "user", "content": PROMPTS[scenario] + f"Question: {row['question']}"},)
    return attrs.evolve(env, messages=messages, tools=env.tools if scenario != "direct" else (),
                        source=f"ToolHop/{scenario}")


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


def _json_array(path: Path) -> list | None:
    """The rows of a ToolHop file that is one JSON array (the Hub's ``ToolHop.json``), or
    None for JSONL."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return None
    if not head.startswith("["):
        return None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    return rows if isinstance(rows, list) else None


def load(path: str | Path, scenario: str = "mandatory", limit: int = 0) -> list[Environment]:
    """Environments of a ToolHop file: JSONL (the release's ``ToolHop.jsonl``, our shared
    subset) or one JSON array (the Hub's ``ToolHop.json``); a folder holds the default file."""
    from toolfeedback.jsonl import JsonlReader

    path = Path(path)
    if path.is_dir():
        path = path / DEFAULT_FILE
    envs = []
    rows = _json_array(path)
    if rows is not None:
        for i, row in enumerate(rows[:limit] if limit else rows):
            try:
                envs.append(to_environment(row, scenario))
            except ValueError as exc:
                raise BenchmarkError(f"{path}: row {i}: {exc}") from None
        return envs
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


class ToolHopEvaluator(Evaluator):
    """``toolfeedback eval --evaluator toolhop --model DIR [--subset mandatory|free|direct]``."""

    name = "toolhop"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """Play every question (up to 9 turns by default) and score AC."""
        from toolfeedback.evaluate.driver import load_runtime, play, take_shard, write_predictions
        from toolfeedback.rollout.engine import Policy
        from toolfeedback.runtime.executor import InProcessExecutor

        scenario = config.subset or "mandatory"
        try:
            envs = load(config.data or shared_data_dir("toolhop"), scenario, config.limit)
        except ValueError as exc:
            raise BenchmarkError(str(exc)) from None
        envs = take_shard(envs, config)
        rt = load_runtime(config, pm, require_tools=scenario != "direct")
        executor = InProcessExecutor()
        try:
            episodes = play(rt, envs, policy=Policy(max_turns=config.max_turns or 9), desc="toolhop",
                            batch_size=config.batch_size, quiet=config.quiet, executor=executor)
        finally:
            executor.close()
        rows = [{"id": e.id, "hop_count": e.metadata.get("hop_count"), "data_source": e.source,
                 "messages": ep.messages, "metrics": score(e, ep.messages)}
                for e, ep in zip(envs, episodes)]
        write_predictions(config.predictions, rows)
        return self.report(config, rows)

    def report(self, config, rows: list[dict]) -> dict[str, Any]:
        """The report of these prediction rows (sharded runs merge the rows, then call this)."""
        return {"scenario": config.subset or "mandatory", **summarize(rows)}


@hookimpl
def register_evaluators(register):
    register(ToolHopEvaluator())
