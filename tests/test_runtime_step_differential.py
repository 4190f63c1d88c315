"""One step function: the same (record, response, mode) earns the same reward through
``toolfeedback score``, rollout (a scripted generator) and the training reward, for every
mode and every tool format (hermes, llama3, openai; structured server calls too)."""

from __future__ import annotations

import json

import pytest

from helpers.rollout_envs import env_record
from toolfeedback.generation import Completion
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog
from toolfeedback.rollout.collect import RolloutConfig, rollout
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.runtime.scoring import score
from toolfeedback.runtime.step import make_reward
from toolfeedback.train.data import StepReward, sample_columns
from toolfeedback.types import ToolCall

MODES = ("no-think", "think", "think-prompted")
FORMATS = ("hermes", "llama3", "openai")
REWARD = "solve_f1:1.0,format:0.2"
RIGHT = ToolCall("get_capital", {"country": "Avalonia"})
WRONG = ToolCall("get_capital", {"country": "Nowhere"})
NEXT = ToolCall("get_population", {"city": "Brindle"})


def _structured(calls, prefix="c"):
    return [{"id": f"{prefix}{i}", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for i, c in enumerate(calls)]


def cases(fmt) -> list[dict]:
    """Logical responses: ``reasoning`` (None: no think block), ``content``, ``calls``
    (written as the format's text), ``structured`` (calls a server returns apart)."""
    inside = fmt.render(None, [RIGHT]) if fmt.name != "openai" else "<tool_call>x</tool_call>"
    out = [
        {"reasoning": "I should look it up.", "content": "", "calls": [RIGHT]},
        {"reasoning": "maybe " + inside, "content": "Done.", "calls": []},  # call while thinking
        {"reasoning": None, "content": "", "calls": [RIGHT, WRONG]},
        {"reasoning": "hmm", "content": "", "calls": [WRONG]},
        {"reasoning": "so", "content": "The population is 1,204.", "calls": []},
        {"reasoning": None, "content": "I do not know.", "calls": []},
        {"reasoning": "two hops", "content": "", "structured": [RIGHT, NEXT]},
        {"reasoning": None, "content": "", "structured": [WRONG]},
    ]
    if fmt.name == "openai":  # an openai-format model only ever returns calls apart
        for case in out:
            case["structured"] = case.pop("calls", []) + case.get("structured", [])
    return out


def text_of(fmt, case) -> str:
    """The raw text a model writes: think block, then content and text calls."""
    body = fmt.render(case["content"] or None, case["calls"]) if case.get("calls") else case["content"]
    return body if case["reasoning"] is None else f"<think>\n{case['reasoning']}\n</think>\n\n{body}"


def forms(fmt, case):
    """The one response as a score record sees it, as a backend returns it, as TRL passes it."""
    if case.get("structured"):
        message = {"role": "assistant", "content": case["content"],
                   "tool_calls": _structured(case["structured"])}
        if case["reasoning"] is not None:
            message["reasoning_content"] = case["reasoning"]
        completion = Completion(text=case["content"], tool_calls=tuple(message["tool_calls"]),
                                reasoning=case["reasoning"])
        return message, completion, [message]
    text = text_of(fmt, case)
    return text, Completion(text=text), text


class CaseGenerator:
    """Answers each chat with the completion of the case named in its user message."""

    model_name = "cases"

    def __init__(self, completions):
        self.completions = completions

    def generate(self, requests, params):
        out = []
        for request in requests:
            user = next(m["content"] for m in request.messages if m["role"] == "user")
            out.append([self.completions[int(user.split("[case ", 1)[1].split("]")[0])]])
        return out

    def close(self):
        pass


def records_for(n):
    records = []
    for i in range(n):
        rec = env_record("Avalonia")
        rec["id"] = f"case-{i}"
        rec["messages"][1]["content"] += f" [case {i}]"
        records.append(rec)
    return records


@pytest.mark.parametrize("fmt_name", FORMATS)
@pytest.mark.parametrize("mode_name", MODES)
def test_score_rollout_and_training_reward_agree(tmp_path, fmt_name, mode_name):
    pm = create_plugin_manager()
    catalog = Catalog(pm)
    fmt, mode = catalog.get("tool_formats", fmt_name), catalog.get("modes", mode_name)
    all_cases = cases(fmt)
    records = records_for(len(all_cases))
    shaped = [forms(fmt, c) for c in all_cases]
    executor = InProcessExecutor(timeout=5)

    scored = list(score([{**r, "response": s[0]} for r, s in zip(records, shaped)], reward=REWARD,
                        tool_format=fmt_name, mode=mode_name, pm=pm, executor=executor))
    via_score = [row["score"] for row in scored]

    envs = tmp_path / "envs.jsonl"
    envs.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "traj.jsonl"
    cfg = RolloutConfig(model="cases", envs=str(envs), out=str(out), mode=mode_name,
                        tool_format=fmt_name, reward=REWARD, max_turns=1, progress=False)
    rollout(cfg, pm=pm, generator=CaseGenerator([s[1] for s in shaped]), executor=executor)
    trajs = {t["env_id"]: t for t in map(json.loads, out.read_text().splitlines())}
    via_rollout = [trajs[r["id"]]["steps"][0]["reward"] for r in records]

    from toolfeedback.ftrl import from_record

    columns: dict[str, list] = {}
    for rec in records:
        for key, value in sample_columns(from_record(rec)).items():
            columns.setdefault(key, []).append(value)
    trainer_reward = StepReward(mode=mode, tool_format=fmt, reward=make_reward(pm, REWARD),
                                executor=executor, timeout=5)
    via_training = trainer_reward(prompts=[""] * len(records), completions=[s[2] for s in shaped],
                                  **columns)

    assert via_score == pytest.approx(via_rollout)
    assert via_score == pytest.approx(via_training)
    assert len(set(via_score)) >= 4  # the cases differ, so agreement means something
    # A call written while reasoning is never executed, in any path.
    assert scored[1]["n_calls"] == 0 and trajs["case-1"]["steps"][0]["calls"] == []
    # Calls a server returns apart are counted and run (two hops: both hit).
    assert scored[6]["n_calls"] == 2 and scored[6]["n_hits"] == 2
    assert [c["name"] for c in trajs["case-6"]["steps"][0]["calls"]] == ["get_capital", "get_population"]
    executor.close()


def test_think_response_scores_as_its_training_reward(tmp_path):
    """The reproduced bug: a think-mode response whose only call sits inside <think>
    scored 1.0 in ``score`` (nothing split the reasoning off) and 0.0 as training reward."""
    from helpers.rollout_envs import call

    pm = create_plugin_manager()
    record = env_record("Avalonia")
    response = "<think>\n" + call("get_capital", country="Avalonia") + "\n</think>\n\nDone."
    executor = InProcessExecutor(timeout=5)
    (row,) = score([{**record, "response": response}], mode="think", pm=pm, executor=executor)
    from toolfeedback.ftrl import from_record

    columns = {k: [v] for k, v in sample_columns(from_record(record)).items()}
    catalog = Catalog(pm)
    reward = StepReward(mode=catalog.get("modes", "think"), tool_format=catalog.get("tool_formats", "hermes"),
                        reward=make_reward(pm, "solve_f1"), executor=executor)
    assert row["score"] == reward(prompts=[""], completions=[response], **columns)[0] == 0.0
    # The same call after the reasoning is run and hits.
    after = "<think>\nlook it up\n</think>\n\n" + call("get_capital", country="Avalonia")
    (hit,) = score([{**record, "response": after}], mode="think", pm=pm, executor=executor)
    assert hit["score"] == 1.0 and hit["n_hits"] == 1
    executor.close()
