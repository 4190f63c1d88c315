"""``toolfeedback score`` and its Python API."""

from __future__ import annotations

import json

import pytest

from toolfeedback import api
from toolfeedback.cli import main
from toolfeedback.errors import InputError

CODES = {"capital": "def capital(country):\n    return {'capital': {'france': 'Paris'}.get(country.lower(), '?')}",
         "slow": "def slow():\n    while True:\n        pass"}


def record(response, **extra):
    rec = {"messages": [{"role": "user", "content": "Capital of France?"}],
           "tools": json.dumps([{"type": "function", "function": {"name": n, "parameters": {}}} for n in CODES]),
           "codes": json.dumps(CODES), "unsolved_set": json.dumps({"capital": ["Paris"]}),
           "solve_rate": 0.0, "answer": "Paris", "data_source": "test", "split": "train",
           "response": response}
    rec.update(extra)
    return rec


CALL = '<tool_call>{"name": "capital", "arguments": {"country": "France"}}</tool_call>'
MISS = '<tool_call>{"name": "capital", "arguments": {"country": "Peru"}}</tool_call>'


def write(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_verb_in_order_with_breakdown(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(src, [record(CALL), record(CALL + MISS), record("It is Paris.<|im_end|>"), record("")])
    assert main(["score", "--input", str(src), "--out", str(out), "--reward", "solve_f1", "--quiet"]) == 0
    rows = read(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert [r["score"] for r in rows] == [2 * 1 / 2, 2 * 1 / 3, 1 / (1 + 1), -0.5]
    assert rows[1]["n_calls"] == 2 and rows[1]["hits"] == ["Paris", None]
    assert rows[0]["remaining"] == {"capital": []} and rows[1]["results"][1] == '{"capital": "?"}'


def test_weighted_reward_and_timeout_flag(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(src, [record('<tool_call>{"name": "slow", "arguments": {}}</tool_call>' + CALL)])
    assert main(["score", "--input", str(src), "--out", str(out), "--reward", "solve_precision:0.5,format:2",
                 "--tool-timeout", "0.5", "--quiet"]) == 0
    [row] = read(out)
    assert row["score"] == 0.5 * (1 / 2) and row["components"] == {"solve_precision": 0.5, "format": 0.0}
    assert row["ok"] == [False, True] and "timed out after 0.500000 seconds" in row["results"][0]


def test_bad_line_is_named_and_skip_scores_the_rest(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    bad_tools = record(CALL, tools="[not json")
    no_response = {k: v for k, v in record(CALL).items() if k != "response"}
    write(src, [record(CALL), "{broken", bad_tools, no_response, record(MISS)])
    assert main(["score", "--input", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {src}:2: invalid JSON" in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))  # renamed only on success
    assert main(["score", "--input", str(src), "--out", str(out), "--on-error", "skip"]) == 0
    err = capsys.readouterr().err
    assert f"{src}:3: $.tools: not a JSON string" in err and f"{src}:4: $.response: missing" in err
    assert [r["line"] for r in read(out)] == [1, 5]
    assert json.loads(err.strip().splitlines()[-1])["skipped"] == 3


def test_unknown_reward_and_missing_file(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    write(src, [record(CALL)])
    assert main(["score", "--input", str(src), "--out", str(tmp_path / "o"), "--reward", "nope"]) == 2
    assert "no reward named 'nope'" in capsys.readouterr().err
    assert main(["score", "--input", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = capsys.readouterr().out
    for flag in ("--input", "--out", "--reward", "--format", "--tool-timeout", "--workers", "--on-error", "--quiet"):
        assert flag in text


def test_python_api(tmp_path):
    rows = list(api.score([record(CALL), record("no idea")], reward="solve_rate"))
    assert [r["score"] for r in rows] == [1.0, 0.0]
    with pytest.raises(InputError, match=r"\[1\].response: missing"):
        list(api.score([record(CALL), {k: v for k, v in record(CALL).items() if k != "response"}]))
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(src, [record(CALL)])
    summary = api.score_file(str(src), str(out), reward="solve_pr")
    assert summary["scored"] == 1 and summary["mean_score"] == 1.0


def test_lone_surrogates_in_tool_output_are_kept_not_fatal(tmp_path):
    rec = record('<tool_call>{"name": "odd", "arguments": {}}</tool_call>',
                 codes=json.dumps({"odd": "def odd():\n    return 'Paris\\ud800'"}),
                 unsolved_set=json.dumps({"odd": ["Paris"]}))
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(src, [rec, record(CALL)])
    assert main(["score", "--input", str(src), "--out", str(out), "--quiet"]) == 0
    rows = read(out)
    assert rows[0]["results"] == ["Paris\ud800"] and rows[0]["score"] == 1.0 and rows[1]["score"] == 1.0


def test_many_records_keep_input_order(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    responses = [CALL if i % 3 == 0 else MISS if i % 3 == 1 else "It is Paris" for i in range(25)]
    write(src, [record(r) for r in responses])
    assert main(["score", "--input", str(src), "--out", str(out), "--workers", "3", "--quiet"]) == 0
    rows = read(out)
    assert [r["line"] for r in rows] == list(range(1, 26))
    assert [r["score"] for r in rows] == [1.0 if i % 3 == 0 else 0.0 if i % 3 == 1 else 0.5 for i in range(25)]
