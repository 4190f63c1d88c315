"""RoTBench adapter: tool selection (TS), parameter identification (PI), content filling (CF).

A record (``First_Turn/<noise>.json``, ``Third_Turn/<noise>.json``) holds ShareGPT
``conversations``: the system prompt listing the tools in text (a JSON list whose last two
entries are ``ask_to_user`` and ``finish``), the user turn, for later turns the earlier
assistant / function / user turns, and last an assistant turn holding the list of acceptable
``Action: <tool>\nAction Input: <json>`` answers. The model sees every turn before the
answers (assistant turns as assistant messages, function results as ``tool`` messages,
no structured tools) and answers in text.

``scoring="official"`` (default) follows RoTBench's ``Code/Evaluation/evaluate.py``:
the tool is the text between ``Action:`` and ``Action Input:``, the input is JSON after
``Action Input:``; an input that does not parse, is a string or is empty (``{}``) scores 0
on all three; a predicted ``finish`` matches the system prompt's last tool; TS = the tool
equals some answer's; PI = and the parameter names are equal; CF = and, after dropping the
parameters whose answer value is ``"None"``, the inputs are equal as dicts, or the answer
is ``finish`` / ``ask_to_user`` (any content accepted there). A non-object input that is
not empty (a list, a number) scores TS only (the official script crashes on it).

``scoring="ftrl"`` follows the FTRL release's ``evaluation_rotbench.py``: tool and input
split on ``Action: `` / ``Action Input: ``; the input must be a JSON object; PI = the
names are equal; CF = the multisets of values are equal (unhashable values: CF 0).
Reports average each metric over records, overall and per file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir
from toolfeedback.contracts import Evaluator

TURNS = ("First_Turn", "Third_Turn")
NOISE_LEVELS = ("clean", "slight", "medium", "heavy", "union")
SCORINGS = ("official", "ftrl")
_ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant",
          "gpt": "assistant", "function": "tool", "observation": "tool"}


def parse_action(text: str) -> tuple[str, dict]:
    """``(tool, parameters)`` of an ``Action:`` / ``Action Input:`` text, the release's
    way; ValueError if none."""
    try:
        tool = text.split("Action: ")[1].split("Action Input: ")[0].strip()
        params = json.loads(text.split("Action Input: ")[1].strip())
    except (IndexError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an Action / Action Input answer ({exc})") from None
    if not isinstance(params, dict):
        raise ValueError("Action Input is not a JSON object")
    return tool, params


def _official_action(text: str) -> tuple[str, Any]:
    # evaluate.py's slicing, character for character (find() may return -1: kept)
    action = text[text.find("Action:") + 8:text.find("Action Input:")]
    if action.endswith("\n"):
        action = action[:-1]
    try:
        params = json.loads(text[text.find("Action Input:") + 14:])
    except json.JSONDecodeError:
        return action, 0
    return action, 0 if isinstance(params, str) else params


def tool_names(system_prompt: str) -> list[str]:
    """Names of the tools listed in a RoTBench system prompt (evaluate.py's ``get_config``)."""
    try:
        config = json.loads(system_prompt[system_prompt.find("["):-13])
        return [str(t["name"]) for t in config]
    except (ValueError, TypeError, KeyError):
        return []


def score_official(prediction: str, answers: list[str], tools: list[str]) -> dict[str, float]:
    """TS / PI / CF by RoTBench's own evaluate.py (see the module doc)."""
    finish = tools[-1] if tools else "finish"
    ask = tools[-2] if len(tools) > 1 else "ask_to_user"
    test_action, test_input = _official_action(prediction)
    if not test_input:
        return {"TS": 0.0, "PI": 0.0, "CF": 0.0}
    gold = [_official_action(a) for a in answers]
    ts = pi = cf = 0.0
    action = test_action
    for g_action, _ in gold:  # ts_eval
        if g_action == finish and action == "finish":
            action = g_action
        if g_action == action:
            ts = 1.0
            break
    if not isinstance(test_input, dict):
        return {"TS": ts, "PI": 0.0, "CF": 0.0}
    action = test_action
    for g_action, g_input in gold:  # pi_eval
        if g_action == finish and action == "finish":
            action = g_action
        if g_action == action and isinstance(g_input, dict) and g_input.keys() == test_input.keys():
            pi = 1.0
            break
    action, test_input = test_action, dict(test_input)
    for g_action, g_input in gold:  # cf_eval: its deletions carry over to later answers
        if g_action == finish and action == "finish":
            action = g_action
        if g_action != action or not isinstance(g_input, dict) or g_input.keys() != test_input.keys():
            continue
        kind = "finish" if g_action == finish else "ask_to_user" if g_action == ask else g_action
        g_input = dict(g_input)
        for key in [k for k, v in g_input.items() if v == "None"]:
            del g_input[key], test_input[key]
        if g_input == test_input or kind in ("finish", "ask_to_user"):
            cf = 1.0
            break
    return {"TS": ts, "PI": pi, "CF": cf}


def score_ftrl(prediction: str, answers: list[str]) -> dict[str, float]:
    """TS / PI / CF by the FTRL release's evaluation_rotbench.py (see the module doc)."""
    gold = [parse_action(text) for text in answers]
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


def score(prediction: str, answers: list[str], tools: list[str] | None = None,
          scoring: str = "official") -> dict[str, float]:
    """TS / PI / CF of one predicted text against the acceptable answers; ``tools`` are
    the prompt's tool names (see :func:`tool_names`), used by the official rules."""
    if scoring == "official":
        return score_official(prediction, answers, tools or [])
    if scoring == "ftrl":
        return score_ftrl(prediction, answers)
    raise ValueError(f"unknown scoring {scoring!r} (known: {', '.join(SCORINGS)})")


def to_sample(record: dict, source: str = "RoTBench") -> dict:
    """A record -> ``{"messages", "answer", "tools", "data_source", "id"}``: every turn
    before the last assistant turn (which holds the answers) is kept."""
    turns = record["conversations"]
    if not isinstance(turns, list) or not turns:
        raise ValueError("$.conversations: expected a non-empty list")
    last = max((i for i, t in enumerate(turns) if t["from"] in ("assistant", "gpt")), default=None)
    if last is None:
        raise ValueError("$.conversations: no assistant turn with the answers")
    messages = []
    for i, turn in enumerate(turns[:last]):
        role = _ROLES.get(turn["from"])
        if role is None:
            raise ValueError(f"$.conversations[{i}].from: unknown role {turn['from']!r}")
        if not isinstance(turn["value"], str):
            raise ValueError(f"$.conversations[{i}].value: expected a string")
        messages.append({"role": role, "content": turn["value"]})
    answers = turns[last]["value"]
    answers = answers if isinstance(answers, list) else [answers]
    if not all(isinstance(a, str) for a in answers):
        raise ValueError(f"$.conversations[{last}].value: expected answer strings")
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    return {"id": record.get("id", ""), "messages": messages, "answer": answers,
            "tools": tool_names(system), "data_source": source}


def _files(path: Path, subsets: tuple[str, ...]) -> list[tuple[Path, str]]:
    if path.is_file():
        return [(path, f"RoTBench/{path.stem}")]
    out = []
    for subset in subsets or tuple(f"{t}/{n}" for t in TURNS for n in NOISE_LEVELS):
        turn, _, noise = subset.rpartition("/")
        turn = next((t for t in TURNS if t.lower() == (turn or "First_Turn").lower()), None)
        if turn is None or noise not in NOISE_LEVELS:
            raise BenchmarkError(f"unknown RoTBench subset {subset!r} (known: a noise level "
                                 f"{', '.join(NOISE_LEVELS)}, optionally after First_Turn/ or Third_Turn/)")
        file = path / turn / f"{noise}.json"
        if not subsets and not file.exists():
            continue
        out.append((file, f"RoTBench/{noise}" if turn == "First_Turn" else f"RoTBench/{turn}/{noise}"))
    return out


def load(path: str | Path, noise: tuple[str, ...] = (), limit: int = 0) -> list[dict]:
    """Samples of ``path`` (a folder holding ``First_Turn`` / ``Third_Turn``, or one JSON
    file); ``noise`` names the parts (``clean``, ``Third_Turn/clean``, ...; default every
    file present)."""
    samples: list[dict] = []
    for file, source in _files(Path(path), noise):
        try:
            records = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchmarkError(f"{file}: no such file") from None
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{file}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(records, list):
            raise BenchmarkError(f"{file}: expected a JSON list of records")
        for i, record in enumerate(records):
            try:
                samples.append(to_sample(record, source))
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


class RoTBenchEvaluator(Evaluator):
    """``toolfeedback eval --evaluator rotbench --model DIR [--subset clean,Third_Turn/clean]
    [--scoring official|ftrl]``."""

    name = "rotbench"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """Generate one answer per record and score TS/PI/CF."""
        from toolfeedback.evaluate.driver import load_runtime, play, take_shard, write_predictions
        from toolfeedback.rollout.engine import Policy
        from toolfeedback.types import Environment

        noise = tuple(s for s in config.subset.split(",") if s)
        scoring = config.scoring
        samples = take_shard(load(config.data or shared_data_dir("rotbench"), noise, config.limit), config)
        rt = load_runtime(config, pm, require_tools=False)
        # The agent loop with one turn; the tools are in the system prompt, nothing runs.
        envs = [Environment(id=str(i), messages=tuple(s["messages"]), tools=(), codes={}, unsolved={},
                            answer="") for i, s in enumerate(samples)]
        episodes = play(rt, envs, policy=Policy(max_turns=1), desc="rotbench",
                        batch_size=config.batch_size, quiet=config.quiet)
        answers = [ep.steps[0].content or "" for ep in episodes]
        rows = [{**sample, "response": text,
                 "metrics": score(text, sample["answer"], sample["tools"], scoring)}
                for sample, text in zip(samples, answers)]
        write_predictions(config.predictions, rows)
        return self.report(config, rows)

    def report(self, config, rows: list[dict]) -> dict[str, Any]:
        """The report of these prediction rows (sharded runs merge the rows, then call this)."""
        return {"scoring": config.scoring, **summarize(rows)}


@hookimpl
def register_evaluators(register):
    register(RoTBenchEvaluator())
