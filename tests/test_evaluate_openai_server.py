"""Benchmarks against a loopback OpenAI-compatible server that returns structured
``tool_calls``: the agent loop runs and counts them, through the API and the CLI."""

from __future__ import annotations

import json

import pytest

from helpers.replay_server import ReplayServer, chat_reply
from toolfeedback.evaluate.driver import EvalConfig, evaluate
from toolfeedback.manager import create_plugin_manager

GENEALOGY = {"individual_name": "Raoul I Of Brienne, Count Of Eu",
             "data_source": {"database_name": "HistoricalFiguresDB"}}


def toolhop_server(body):
    """Turn 1: one structured call that solves a sub-question; turn 2: the final answer."""
    if not any(m["role"] == "tool" for m in body["messages"]):
        return chat_reply("", tool_calls=[{"id": "call-1", "type": "function", "function": {
            "name": "genealogy_query", "arguments": json.dumps(GENEALOGY)}}])
    return chat_reply("<answer>15</answer>")


@pytest.fixture
def toolhop_file(fixtures_dir):
    return str(fixtures_dir / "toolhop" / "toolhop_4.jsonl")


def test_toolhop_counts_structured_calls_from_a_server(toolhop_file, tmp_path, monkeypatch):
    preds = tmp_path / "p.jsonl"
    with ReplayServer(toolhop_server) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        report = evaluate(EvalConfig(evaluator="toolhop", backend="openai", model="served",
                                     data=toolhop_file, limit=1, predictions=str(preds), quiet=True),
                          create_plugin_manager())
    # One call made and it solved one of three sub-answers: the call was counted and run.
    assert report["count"] == 1 and report["AC"] == 1.0
    assert report["solve_p"] == 1.0 and report["solve_r"] == pytest.approx(1 / 3)
    (row,) = [json.loads(line) for line in preds.read_text().splitlines()]
    tool = [m for m in row["messages"] if m["role"] == "tool"]
    assert len(tool) == 1 and "John II of Brienne" in tool[0]["content"]
    assert tool[0]["tool_call_id"] == "call-1"  # the server's call id is kept
    # the second request carried the structured call and its result back to the server
    assert len(server.requests) == 2
    sent = server.requests[1]["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "genealogy_query"
    assert sent[-1]["role"] == "tool"


def test_eval_cli_toolhop_with_the_openai_backend(toolhop_file, tmp_path, monkeypatch, capsys):
    """``toolfeedback eval --evaluator toolhop --backend openai`` runs (it used to fail with
    ``backend 'openai': unknown option(s) batch_size``)."""
    from toolfeedback.cli import main

    with ReplayServer(toolhop_server) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        code = main(["eval", "--evaluator", "toolhop", "--backend", "openai", "--model", "served",
                     "--data", toolhop_file, "--limit", "2", "--quiet"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["evaluator"] == "toolhop" and report["count"] == 2
    assert len(server.requests) == 4  # two turns per question, both questions


def test_eval_cli_takes_the_server_through_backend_option(toolhop_file, monkeypatch, capsys):
    """The server named by ``--backend-option base_url=...`` (no environment variable)."""
    from toolfeedback.cli import main

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with ReplayServer(toolhop_server) as server:
        code = main(["eval", "--evaluator", "toolhop", "--backend", "openai", "--model", "served",
                     "--backend-option", f"base_url={server.url}", "--data", toolhop_file,
                     "--limit", "1", "--quiet"])
        assert code == 0 and len(server.requests) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 1 and report["solve_p"] == 1.0


def test_single_turn_benchmark_parses_structured_calls(fixtures_dir, monkeypatch):
    """BFCL is the loop with one turn: structured calls are parsed (not run) and scored."""
    from toolfeedback.contrib import bench_bfcl

    items = {i["record"]["question"][0][-1]["content"]: i
             for i in bench_bfcl.load(fixtures_dir / "bfcl", ("simple_python",))}

    def perfect(body):
        item = items[body["messages"][-1]["content"]]
        calls = [{"id": f"c{k}", "type": "function", "function": {
                  "name": bench_bfcl.openai_name(n),
                  "arguments": json.dumps({a: v[0] for a, v in p.items() if v[0] != ""})}}
                 for k, (n, p) in enumerate((n, p) for t in item["truth"] for n, p in t.items())]
        return chat_reply("", tool_calls=calls)

    with ReplayServer(perfect) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        report = evaluate(EvalConfig(evaluator="bfcl", backend="openai", model="served", quiet=True,
                                     data=str(fixtures_dir / "bfcl"), subset="simple_python"),
                          create_plugin_manager())
    assert report["count"] == 3 and report["accuracy"] == 1.0
