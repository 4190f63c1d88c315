"""The llm stages through a real loopback HTTP server replaying recorded replies:
valid, malformed and wrong ones (wrong ones are retried, then rejected with a reason)."""

from __future__ import annotations

import json

import pytest

from toolfeedback.cli import main
from toolfeedback.plugins.llm_stages import extract_json, parse_code, parse_sub_questions

from construction_helpers import read_records
from helpers.replay_server import ReplayServer, chat_reply

DECOMPOSITION = {"pattern": "multi-hop", "sub_questions": [
    {"id": "q1", "question": "Where was Ada Quill born?", "answer": "Vellport", "depends_on": []},
    {"id": "q2", "question": "Which country is Vellport in?", "answer": "Norland", "depends_on": ["q1"]}]}


def _tool(name, props, required):
    return {"name": name, "description": f"{name} tool",
            "parameters": {"type": "object", "properties": props, "required": required}}


STR = {"type": "string"}
DOCUMENTS_WRONG = {"tools": [_tool("get_birthplace", {"person": STR}, ["person"]),
                             _tool("get_country_of_city", {"city": STR}, ["city"])],
                   "calls": {"q1": {"name": "get_birthplace", "arguments": {"person": "Ada Quill"}},
                             "q2": {"name": "get_country_of_city", "arguments": {"city": "Paris"}}}}
DOCUMENTS = json.loads(json.dumps(DOCUMENTS_WRONG).replace('"Paris"', '"Vellport"'))
GEO = _tool("geo_lookup", {"name": STR, "fact": {"type": "string", "enum": ["birthplace", "country"]}},
            ["name", "fact"])
INTEGRATED = {"tools": [GEO], "calls": {
    "q1": {"name": "geo_lookup", "arguments": {"name": "Ada Quill", "fact": "birthplace"}},
    "q2": {"name": "geo_lookup", "arguments": {"name": "Vellport", "fact": "country"}}}}
SCALED = {"tools": [dict(GEO, parameters={**GEO["parameters"], "properties": {
    **GEO["parameters"]["properties"], "format": {"type": "string", "enum": ["text", "json"]}}}),
    _tool("weather_lookup", {"city": STR}, ["city"])],
    "calls": INTEGRATED["calls"], "distractors": ["weather_lookup"]}
GEO_WRONG = "```python\ndef geo_lookup(name, fact, format='text'):\n    return 'Unknown'\n```"
GEO_CODE = '''```python
FACTS = {("ada quill", "birthplace"): "Vellport", ("vellport", "country"): "Norland"}


def geo_lookup(name, fact, format="text"):
    if fact not in ("birthplace", "country"):
        raise ValueError("fact must be birthplace or country")
    return f"The {fact} of {name} is {FACTS.get((name.lower(), fact), 'Ostria')}."
```'''
WEATHER_CODE = "```python\nimport hashlib\n\ndef weather_lookup(city):\n    return 'sunny'\n```"


def _replies():
    j = lambda obj: chat_reply("Here you go:\n```json\n" + json.dumps(obj) + "\n```")  # noqa: E731
    return [chat_reply("Sure! {not json"), j(DECOMPOSITION),          # malformed, then valid
            j(DOCUMENTS_WRONG), j(DOCUMENTS),                         # q2 ignores q1's answer
            j(INTEGRATED), j(SCALED),
            chat_reply(GEO_WRONG), chat_reply(GEO_CODE),              # wrong code, then right
            chat_reply(WEATHER_CODE),
            chat_reply("no json"), chat_reply("```json\n[1]\n```"), chat_reply("{\"tools\": []}")]


def test_llm_stages_build_verified_environments_and_reject_bad_ones(tmp_path, capsys):
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in [
        {"id": "ada", "question": "In which country was Ada Quill born?", "answer": "Norland"},
        {"id": "given", "question": "What is 2 + 2?", "answer": "4",
         "sub_questions": [{"id": "q1", "question": "What is 2 + 2?", "answer": "4"}]},
    ]) + "\n")
    out = tmp_path / "llm.jsonl"
    with ReplayServer(_replies()) as server:
        code = main(["build", "--source", "jsonl", "--input", str(questions), "--model", "replay",
                     "--base-url", server.url, "--scale", "distractors:1", "--out", str(out),
                     "--executor", "inprocess", "--retries", "2"])
        requests = server.requests
    assert code == 0
    text = capsys.readouterr().out
    assert "written 1, rejected 1" in text
    assert "rejected 1: document: invalid document output after 3 attempts" in text
    assert len(requests) == 12
    # a retry carries the model's bad reply and what was wrong with it
    assert "not valid JSON" in requests[1]["messages"][-1]["content"]
    assert "must pass the answer of q1" in requests[3]["messages"][-1]["content"]
    assert "does not contain 'Vellport'" in requests[7]["messages"][-1]["content"]
    [record] = read_records(out)
    assert record["id"] == "ada" and record["pattern"] == "multi-hop"
    assert json.loads(record["unsolved_set"]) == {"geo_lookup": ["Vellport", "Norland"]}
    assert record["golden"] == [[INTEGRATED["calls"]["q1"]], [INTEGRATED["calls"]["q2"]]]
    assert record["metadata"]["distractors"] == ["weather_lookup"]
    assert main(["verify", str(out), "--quiet"]) == 0


def test_validators_name_the_problem():
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("nothing here")
    with pytest.raises(ValueError, match="not an earlier sub-question"):
        parse_sub_questions([{"id": "a", "question": "x", "answer": "y", "depends_on": ["b"]}])
    with pytest.raises(ValueError, match="does not fit"):
        parse_sub_questions(DECOMPOSITION["sub_questions"], "parallel-single-hop")
    assert parse_sub_questions(DECOMPOSITION["sub_questions"], "multi-hop")[0].value == "multi-hop"
    with pytest.raises(ValueError, match="not in the standard library"):
        parse_code("```python\nimport requests\ndef f():\n    pass\n```", "f")
    with pytest.raises(ValueError, match="does not define a function named g"):
        parse_code("def f():\n    pass\n", "g")


def test_jsonl_source_reports_file_line_and_field(tmp_path, capsys):
    bad = tmp_path / "q.jsonl"
    bad.write_text('\n{"question": "c"}\n{"question": "a", "answer": "b"}\n')
    assert main(["build", "--source", "jsonl", "--input", str(bad), "--model", "m",
                 "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "o.jsonl"),
                 "--retries", "0", "--quiet"]) == 2
    assert f"{bad}:2: $.answer: missing" in capsys.readouterr().err
