"""Evaluators end to end: a scripted oracle backend (checks the agent loop and scoring
reach 1.0 when the answers are right) and the real hf backend on the tiny model."""

from __future__ import annotations

import json

import pytest


from toolfeedback import hookimpl
from toolfeedback.contrib import bench_bfcl, bench_rotbench, bench_taubench, bench_toolhop
from toolfeedback.evaluate.driver import EvalConfig, evaluate
from toolfeedback.generation import Completion
from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugins import backend_hf, format_hermes, modes


class Oracle:
    """A backend whose generator answers each chat with ``script(request)``."""

    name = "oracle"

    def __init__(self, script):
        self.script = script
        self.requests = []

    def load(self, model, **options):
        return self

    model_name = "oracle"

    def generate(self, requests, params):
        self.requests += list(requests)
        return [[Completion(text=self.script(r))] for r in requests]

    def close(self):
        pass


def _pm(*plugins, oracle=None):
    class Reg:
        @hookimpl
        def register_backends(self, register):
            register(oracle)

    extra = [Reg()] if oracle else []
    return create_plugin_manager(entry_points=False,
                                 plugins=[modes, format_hermes, backend_hf, *plugins, *extra])


def _call(name, args):
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


def _tau_agent(task, say_outputs_in="reply"):
    """A perfect agent: the gold actions one per turn, then a closing reply."""
    gold = [(a["function"]["name"], json.loads(a["function"]["arguments"])) for a in task["actions"]]
    outputs = " ".join(task["outputs"])

    def script(request):
        done = sum(1 for m in request.messages if m["role"] == "tool")
        if done < len(gold):
            return (outputs + "\n" if say_outputs_in == "call" else "") + _call(*gold[done])
        return "All done." + (" " + outputs if say_outputs_in == "reply" else "")
    return script


def _is_user_model(request):
    return request.messages[0]["content"].startswith("You are a user interacting with an agent.")


def test_taubench_oracle_passes_without_a_user(fixtures_dir, tmp_path):
    tasks, _ = bench_taubench.load(fixtures_dir / "taubench")
    task = tasks[0]
    oracle = Oracle(_tau_agent(task))
    preds = tmp_path / "p.jsonl"
    report = evaluate(EvalConfig(evaluator="taubench", data=str(fixtures_dir / "taubench"), model="x",
                                 backend="oracle", limit=1, predictions=str(preds), user_backend="none",
                                 quiet=True), _pm(bench_taubench, oracle=oracle))
    assert report["pass^1"] == 1.0 and report["count"] == 1 and report["user"] == "none"
    row = json.loads(preds.read_text().splitlines()[0])
    assert [m["role"] for m in row["messages"]][:2] == ["system", "user"] and row["finished"] == "answer"
    assert row["messages"][1]["content"] == task["instruction"]
    assert sum(1 for m in row["messages"] if m["role"] == "tool") == len(task["actions"])
    # the oracle saw the domain's tools and the wiki as system prompt
    assert oracle.requests[0].tools and "retail" in oracle.requests[0].messages[0]["content"].lower()


def test_taubench_outputs_rule_official_vs_ftrl_end_to_end(fixtures_dir):
    tasks, _ = bench_taubench.load(fixtures_dir / "taubench")
    for said_in, expected in (("reply", {"official": 1.0, "ftrl": 0.0}),
                              ("call", {"official": 0.0, "ftrl": 1.0})):
        for scoring, value in expected.items():
            report = evaluate(EvalConfig(evaluator="taubench", data=str(fixtures_dir / "taubench"),
                                         model="x", backend="oracle", limit=1, user_backend="none",
                                         scoring=scoring, quiet=True),
                              _pm(bench_taubench, oracle=Oracle(_tau_agent(tasks[0], said_in))))
            assert report["pass^1"] == value, (said_in, scoring)


def test_taubench_simulated_user_drives_the_conversation(fixtures_dir, tmp_path):
    tasks, _ = bench_taubench.load(fixtures_dir / "taubench")
    task = tasks[0]
    agent = _tau_agent(task)
    seen_by_user = []

    def script(request):
        if not _is_user_model(request):
            if len(request.messages) == 2:  # the user's opening only: ask for details first
                return "Could you give me your order details?"
            return agent(request)
        seen_by_user.append(request.messages)
        replies = sum(1 for m in request.messages if m["role"] == "assistant")
        return ["I want to cancel my orders.", "Here they are, go ahead.", "###STOP###"][min(replies, 2)]

    preds = tmp_path / "p.jsonl"
    report = evaluate(EvalConfig(evaluator="taubench", data=str(fixtures_dir / "taubench"), model="x",
                                 backend="oracle", limit=1, predictions=str(preds), quiet=True),
                      _pm(bench_taubench, oracle=Oracle(script)))
    assert report["pass^1"] == 1.0 and report["user"] == "x"
    row = json.loads(preds.read_text().splitlines()[0])
    assert row["finished"] == "user_stop"
    users = [m["content"] for m in row["messages"] if m["role"] == "user"]
    assert users == ["I want to cancel my orders.", "Here they are, go ahead."]
    first = seen_by_user[0]
    assert task["instruction"] in first[0]["content"] and "###STOP###" in first[0]["content"]
    assert first[1] == {"role": "user", "content": "Hi! How can I help you today?"}
    # the agent's replies reach the user model as "user" turns, its own lines as "assistant"
    assert seen_by_user[1][-1] == {"role": "user", "content": "Could you give me your order details?"}


def test_taubench_pass_hat_k_over_trials(fixtures_dir):
    tasks, _ = bench_taubench.load(fixtures_dir / "taubench")
    agent = _tau_agent(tasks[0])
    openings = iter(range(100))

    def script(request):
        if _is_user_model(request):
            if len(request.messages) == 2:
                return f"trial {next(openings)}: please cancel my orders"
            return "###STOP###"
        if request.messages[1]["content"].startswith("trial 1:"):
            return "I cannot help."  # the second trial fails
        return agent(request)

    report = evaluate(EvalConfig(evaluator="taubench", data=str(fixtures_dir / "taubench"), model="x",
                                 backend="oracle", limit=1, trials=3, quiet=True),
                      _pm(bench_taubench, oracle=Oracle(script)))
    assert report["trials"] == 3
    assert (report["pass^1"], report["pass^2"], report["pass^3"]) == pytest.approx((2 / 3, 1 / 3, 0.0))


def test_taubench_idle_agent_fails(fixtures_dir):
    oracle = Oracle(lambda r: "###STOP###" if _is_user_model(r) else "I cannot help.")
    report = evaluate(EvalConfig(evaluator="taubench", data=str(fixtures_dir / "taubench"), model="x",
                                 backend="oracle", quiet=True), _pm(bench_taubench, oracle=oracle))
    assert report["count"] == 3 and report["pass^1"] == 0.0


def test_bfcl_oracle_and_wrong_in_every_category(fixtures_dir):
    from toolfeedback.contrib import bfcl_gold

    items = bench_bfcl.load(fixtures_dir / "bfcl")

    def perfect(request):
        item = next(i for i in items if list(i["record"]["question"][0]) == list(request.messages))
        if item["category"] == "live_relevance":
            return _call(bench_bfcl.openai_name(item["record"]["function"][0]["name"]), {})
        if "irrelevance" in item["category"]:
            return "I cannot help with that using these tools."
        return "\n".join(_call(bench_bfcl.openai_name(n), args) for c in bfcl_gold.gold_calls(
            item["record"]["function"], item["truth"], item["category"]) for n, args in c.items())

    oracle = Oracle(perfect)
    report = evaluate(EvalConfig(evaluator="bfcl", data=str(fixtures_dir / "bfcl"), model="x",
                                 backend="oracle", quiet=True), _pm(bench_bfcl, oracle=oracle))
    assert report["count"] == 3 * len(bench_bfcl.SINGLE_TURN_CATEGORIES) and report["accuracy"] == 1.0
    assert set(report["by_category"]) == set(bench_bfcl.SINGLE_TURN_CATEGORIES)
    assert report["checker"].startswith("bfcl-eval" if bench_bfcl.official_available() else "fallback")
    names = [t["function"]["name"] for r in oracle.requests for t in r.tools]
    assert "math_factorial" in names and not any("." in n for n in names)
    report = evaluate(EvalConfig(evaluator="bfcl", data=str(fixtures_dir / "bfcl"), model="x",
                                 backend="oracle", subset="simple_python,simple_java,live_relevance",
                                 quiet=True), _pm(bench_bfcl, oracle=Oracle(lambda r: "no call")))
    assert report == {**report, "count": 9, "accuracy": 0.0}


def test_rotbench_oracle(fixtures_dir):
    samples = bench_rotbench.load(fixtures_dir / "rotbench", ("clean",))  # slight renames tools
    by_user = {s["messages"][1]["content"]: s["answer"][0] for s in samples}
    oracle = Oracle(lambda r: by_user[r.messages[-1]["content"]])
    report = evaluate(EvalConfig(evaluator="rotbench", data=str(fixtures_dir / "rotbench"), model="x",
                                 backend="oracle", subset="clean", quiet=True),
                      _pm(bench_rotbench, oracle=oracle))
    assert report["count"] == 4 and (report["TS"], report["PI"], report["CF"]) == (1.0, 1.0, 1.0)
    assert not oracle.requests[0].tools  # RoTBench lists its tools in the system prompt


def test_rotbench_oracle_sees_every_earlier_turn_and_both_scorings(fixtures_dir):
    samples = bench_rotbench.load(fixtures_dir / "rotbench", ("Third_Turn/clean",))
    by_chat = {json.dumps(s["messages"]): s["answer"][0] for s in samples}
    for scoring in ("official", "ftrl"):
        oracle = Oracle(lambda r: by_chat[json.dumps(list(r.messages))])
        report = evaluate(EvalConfig(evaluator="rotbench", data=str(fixtures_dir / "rotbench"), model="x",
                                     backend="oracle", subset="Third_Turn/clean", scoring=scoring,
                                     quiet=True), _pm(bench_rotbench, oracle=oracle))
        assert report["scoring"] == scoring and report["count"] == 3
        assert (report["TS"], report["PI"], report["CF"]) == (1.0, 1.0, 1.0)
        assert [len(r.messages) for r in oracle.requests] == [6, 6, 6]


def test_toolhop_tiny_model_end_to_end(fixtures_dir, tiny_model, tmp_path):
    preds = tmp_path / "p.jsonl"
    report = evaluate(EvalConfig(evaluator="toolhop", data=str(fixtures_dir / "toolhop" / "toolhop_4.jsonl"),
                                 model=tiny_model, limit=2, max_turns=2, max_new_tokens=8,
                                 device="cpu", predictions=str(preds), quiet=True),
                      _pm(bench_toolhop))
    assert report["count"] == 2 and report["scenario"] == "mandatory"
    assert 0.0 <= report["AC"] <= 1.0
    rows = [json.loads(l) for l in preds.read_text().splitlines()]
    assert all(r["messages"][-1]["role"] in ("assistant", "tool") for r in rows)
    assert all(1 <= sum(m["role"] == "assistant" for m in r["messages"]) <= 2 for r in rows)


def test_solve_runs_a_rollout_first_with_the_tiny_model(tiny_model, tmp_path):
    from helpers.rollout_envs import write_envs
    from toolfeedback.plugins import eval_solve, rewards_solve

    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia", "Corvia"))
    traj = tmp_path / "traj.jsonl"
    report = evaluate(EvalConfig(evaluator="solve", model=tiny_model, data=str(envs), max_turns=2,
                                 max_new_tokens=8, predictions=str(traj), quiet=True, device="cpu"),
                      _pm(eval_solve, rewards_solve))
    assert report["overall"]["episodes"] == 2 and report["rollout"]["episodes"] == 2
    assert report["trajectories"] == str(traj) and len(traj.read_text().splitlines()) == 2
    assert set(report["by_pattern"]) == {"multi-hop"}
    assert report["overall"]["micro"]["total"] == 4
