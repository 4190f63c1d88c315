"""RoTBench adapter: tool selection (TS), parameter identification (PI), content filling (CF).

A record (``First_Turn/<noise>.json``) holds ShareGPT ``conversations``: the system prompt
listing the tools in text, the user turn, and an assistant turn holding the list of
acceptable ``Action: <tool>\\nAction Input: <json>`` answers. The model sees system + user
only (no structured tools) and answers in text. Scoring follows the FTRL release:

- TS = 1 when the predicted tool equals some answer's tool;
- PI = 1 when, for such an answer, the parameter names are exactly equal;
- CF = 1 when, for such an answer, the multiset of parameter values is equal too.

An unparsable prediction scores 0 on all three. Reports average each metric over records.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir

NOISE_LEVELS = ("clean", "slight")


def parse_action(text: str) -> tuple[str, dict]:
    """``(tool, parameters)`` of an ``Action:`` / ``Action Input:`` text; ValueError if none."""
    try:
        tool = text.split("Action: ")[1].split("Action Input: ")[0].strip()
        params = json.loads(text.split("Action Input: ")[1].strip())
    except (IndexError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an Action / Action Input answer ({exc})") from None
    if not isinstance(params, dict):
        raise ValueError("Action Input is not a JSON object")
    return tool, params


def to_sample(record: dict, source: str = "RoTBench") -> dict:
    """A record -> ``{"messages", "answer", "data_source", "id"}`` (release layout)."""
    roles = {"system": "system", "user": "user", "human": "user"}
    turns = record["conversations"]
    messages = [{"role": roles[t["from"]], "content": t["value"]} for t in turns
                if t["from"] in roles]
    answers = [t["value"] for t in turns if t["from"] in ("assistant", "gpt")]
    if not answers:
        raise ValueError("$.conversations: no assistant turn with the answers")
    answer = answers[-1] if isinstance(answers[-1], list) else [answers[-1]]
    return {"id": record.get("id", ""), "messages": messages, "answer": answer,
            "data_source": source}


def score(prediction: str, answers: list[str]) -> dict[str, float]:
    """TS / PI / CF of one predicted text against the acceptable answers."""
    gold = []
    for text in answers:
        tool, params = parse_action(text)
        gold.append((tool, params))
    ts = pi = cf = 0.0
    try:
        tool, params = parse_action(prediction)
    except ValueError:
        return {"TS": 0.0, "PI": 0.0, "CF": 0.0}
    for g_tool, g_params in gold:
        if g_tool != tool:
            continue
        ts = 1.0
        if g_params.keys() ^ params.keys():
            continue
        pi = 1.0
        try:  # unhashable values (lists, objects) cannot be counted: CF stays 0, as in the release
            same = Counter(g_params.values()) == Counter(params.values())
        except TypeError:
            break
        if same:
            cf = 1.0
            break
    return {"TS": ts, "PI": pi, "CF": cf}


def load(path: str | Path, noise: tuple[str, ...] = NOISE_LEVELS, limit: int = 0) -> list[dict]:
    """Samples of ``path`` (a ``First_Turn``-holding folder, or one JSON file)."""
    path = Path(path)
    files = [path] if path.is_file() else [path / "First_Turn" / f"{n}.json" for n in noise]
    samples: list[dict] = []
    for file in files:
        try:
            records = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchmarkError(f"{file}: no such file") from None
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{file}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
        for i, record in enumerate(records):
            try:
                samples.append(to_sample(record, f"RoTBench/{file.stem}"))
            except (KeyError, TypeError, ValueError) as exc:
                raise BenchmarkError(f"{file}: record {i}: {exc}") from None
        if limit and len(samples) >= limit:
            break
    return samples[:limit] if limit else samples


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Average TS/PI/CF overall and per data source."""
    report: dict[str, Any] = {"count": len(rows)}
    for key in ("TS", "PI", "CF"):
        report[key] = mean(r["metrics"][key] for r in rows)
    sources = sorted({r["data_source"] for r in rows})
    report["by_source"] = {s: {k: mean(r["metrics"][k] for r in rows if r["data_source"] == s)
                               for k in ("TS", "PI", "CF")} for s in sources}
    return report


class RoTBenchEvaluator:
    """``toolfeedback eval --evaluator rotbench --model DIR [--subset clean,slight]``."""

    name = "rotbench"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """Generate one answer per record and score TS/PI/CF."""
        from toolfeedback.evaluate.driver import load_runtime, single_turn_answers, write_predictions
        from toolfeedback.generation import ChatRequest

        noise = tuple(s for s in config.subset.split(",") if s) or NOISE_LEVELS
        samples = load(config.data or shared_data_dir("rotbench"), noise, config.limit)
        rt = load_runtime(config, pm, require_tools=False)
        mode = rt["mode"]
        requests = [ChatRequest(messages=tuple(mode.prepare_messages(s["messages"])),
                                template_kwargs=mode.template_kwargs()) for s in samples]
        answers = single_turn_answers(rt, requests, desc="rotbench", batch_size=config.batch_size,
                                      quiet=config.quiet)
        rows = [{**sample, "response": text, "metrics": score(text, sample["answer"])}
                for sample, text in zip(samples, answers)]
        write_predictions(config.predictions, rows)
        return summarize(rows)


@hookimpl
def register_evaluators(register):
    register(RoTBenchEvaluator())
