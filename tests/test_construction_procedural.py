"""The procedural source and stages: determinism, patterns, hops, splits, scaling, deployment."""

from __future__ import annotations

import ast
import json

import pytest

from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.ftrl import from_record
from toolfeedback.runtime.matching import answer_matches
from toolfeedback.build.pipeline import BuildConfig, build
from toolfeedback.types import Pattern, ToolCall

from construction_helpers import make_pm, read_records


def _build(tmp_path, name="envs.jsonl", **kw):
    out = tmp_path / name
    summary = build(BuildConfig(out=str(out), **kw), make_pm())
    return summary, read_records(out)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    summary, records = _build(tmp_path_factory.mktemp("proc"), n=240, seed=11, test_fraction=0.3)
    return summary, records


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    _build(tmp_path, "a.jsonl", n=40, seed=5)
    _build(tmp_path, "b.jsonl", n=40, seed=5)
    _build(tmp_path, "c.jsonl", n=40, seed=6)
    a, b, c = ((tmp_path / f).read_bytes() for f in ("a.jsonl", "b.jsonl", "c.jsonl"))
    assert a == b
    assert a != c


def test_every_pattern_and_hop_range(built):
    summary, records = built
    assert summary.rejected == 0 and summary.written == 240 == len(records)
    by_pattern = {}
    for rec in records:
        by_pattern.setdefault(rec["pattern"], []).append(rec)
    assert set(by_pattern) == {p.value for p in Pattern}
    for rec in records:
        hops, width = rec["metadata"]["hops"], len(rec["metadata"]["roots"])
        assert 1 <= hops <= 4
        pattern = Pattern(rec["pattern"])
        assert (hops == 1) == (pattern in (Pattern.SINGLE_HOP, Pattern.PARALLEL_SINGLE_HOP))
        assert (width > 1) == (pattern in (Pattern.PARALLEL_SINGLE_HOP, Pattern.PARALLEL_MULTI_HOP))
        assert width <= 3
    assert max(r["metadata"]["hops"] for r in by_pattern["multi-hop"]) == 4


def test_multi_hop_calls_take_the_previous_sub_answer(built):
    _, records = built
    checked = 0
    for rec in records:
        subs = {s["id"]: s for s in rec["metadata"]["sub_questions"]}
        golden = [c for step in rec["golden"] for c in step]
        for sub, call in zip(rec["metadata"]["sub_questions"], _calls_in_sub_order(rec)):
            for dep in sub["depends_on"]:
                assert subs[dep]["answer"] in json.dumps(call["arguments"]) or \
                    str(float(subs[dep]["answer"])) in json.dumps(call["arguments"])
                checked += 1
        assert len(golden) == len(subs)
    assert checked > 100


def _calls_in_sub_order(rec):
    # golden steps group calls by dependency level; map them back to sub-question order
    levels, out = {}, {}
    for sub in rec["metadata"]["sub_questions"]:
        levels[sub["id"]] = 1 + max((levels[d] for d in sub["depends_on"]), default=-1)
    cursor = {i: 0 for i in range(len(rec["golden"]))}
    for sub in rec["metadata"]["sub_questions"]:
        lvl = levels[sub["id"]]
        out[sub["id"]] = rec["golden"][lvl][cursor[lvl]]
        cursor[lvl] += 1
    return [out[s["id"]] for s in rec["metadata"]["sub_questions"]]


def test_splits_share_no_question_and_no_root_entity(built):
    _, records = built
    splits = {"train": [], "test": []}
    for rec in records:
        splits[rec["split"]].append(rec)
    assert len(splits["test"]) > 30 and len(splits["train"]) > 100
    questions = {s: {r["messages"][0]["content"] for r in rs} for s, rs in splits.items()}
    roots = {s: {x for r in rs for x in r["metadata"]["roots"]} for s, rs in splits.items()}
    assert not questions["train"] & questions["test"]
    assert not roots["train"] & roots["test"]
    assert len({r["messages"][0]["content"] for r in records}) == len(records)


def test_one_tool_per_relation_kind_and_integration(tmp_path):
    _, records = _build(tmp_path, n=80, seed=2, scale="none")
    merged = 0
    for rec in records:
        tools = [t["function"] for t in json.loads(rec["tools"])]
        entities = [t["name"].split("_")[1] if t["name"].startswith("get_") else t["name"][:-5]
                    for t in tools if t["name"].startswith("get_") or t["name"].endswith("_info")]
        assert len(entities) == len(set(entities)), "one lookup tool per entity type after integration"
        for t in tools:
            if t["name"].endswith("_info"):
                merged += 1
                assert "field" in t["parameters"]["required"]
                assert len(t["parameters"]["properties"]["field"]["enum"]) >= 2
        assert not rec["metadata"]["distractors"]
    assert merged >= 3


@pytest.mark.parametrize("scale, check", [
    ("generalize:1", "generalize"), ("expand:1", "expand"), ("types:1", "types"),
    ("distractors:3", "distractors")])
def test_each_scaling_strategy(tmp_path, scale, check):
    summary, records = _build(tmp_path, n=40, seed=4, scale=scale)
    assert summary.rejected == 0
    for rec in records:
        tools = {t["function"]["name"]: t["function"] for t in json.loads(rec["tools"])}
        lookups = [t for n, t in tools.items() if n.startswith("get_") or n.endswith("_info")]
        if check == "generalize":
            assert lookups and all(n.endswith("_info") or not n.startswith("get_") for n in tools)
            assert all(len(t["parameters"]["properties"]["field"]["enum"]) >= 2 for t in lookups)
        elif check == "expand":
            for t in tools.values():
                props = t["parameters"]["properties"]
                assert {"format", "precision"} & set(props), t["name"]
                assert not {"format", "precision", "units", "include_source"} & set(t["parameters"]["required"])
        elif check == "types":
            keys = [next(iter(t["parameters"]["properties"].values()))["type"] for t in lookups]
            assert set(keys) <= {"array", "object"}
        else:
            distractors = rec["metadata"]["distractors"]
            assert len(distractors) == 3
            unsolved = json.loads(rec["unsolved_set"])
            assert not set(distractors) & set(unsolved)
            assert set(distractors) <= set(tools)
    if check == "types":
        kinds = {next(iter(t["function"]["parameters"]["properties"].values()))["type"]
                 for rec in records for t in json.loads(rec["tools"])
                 if t["function"]["name"].endswith("_info") or t["function"]["name"].startswith("get_")}
        assert kinds == {"array", "object"}


def test_deployed_code_behaves(built):
    _, records = built
    executor = InProcessExecutor(timeout=5)
    envs = [from_record(r) for r in records]
    env = next(e for e in envs if any(t.name.endswith("_info") for t in e.tools)
               and e.pattern == Pattern.MULTI_HOP)
    for name, code in env.codes.items():
        tree = ast.parse(code)
        imports = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import,)) for a in n.names}
        assert imports <= {"datetime", "hashlib"}, name
    # the golden call returns its sub-answer
    first = env.golden[0][0]
    result = executor.run_calls(env.id, env.codes, [first])[0]
    assert result.ok and answer_matches(result.content, env.unsolved[first.name][0])
    lookup = next(t for t in env.tools if t.name.endswith("_info"))
    props = lookup.parameters["properties"]
    key = next(iter(props))
    value = {"string": "Nobody Known", "array": ["Nobody Known"],
             "object": {"name": "Nobody Known"}}[props[key]["type"]]
    args = {key: value, "field": props["field"]["enum"][0]}
    again = executor.run_calls(env.id, env.codes, [ToolCall(lookup.name, args)] * 2)
    assert again[0].ok and again[0].content == again[1].content and "Nobody Known" in again[0].content
    bad = executor.run_calls(env.id, env.codes, [ToolCall(lookup.name, {key: value, "field": "shoe_size"}),
                                                ToolCall(lookup.name, {"field": props["field"]["enum"][0]})])
    assert not bad[0].ok and "unknown field 'shoe_size'" in bad[0].content
    assert not bad[1].ok


def test_compute_tools_give_clear_errors(built):
    _, records = built
    executor = InProcessExecutor(timeout=5)
    env = next(from_record(r) for r in records if "date_calculator" in json.loads(r["codes"]))
    ok, bad = executor.run_calls(env.id, env.codes, [
        ToolCall("date_calculator", {"operation": "weekday", "date": "2030-01-01"}),
        ToolCall("date_calculator", {"operation": "weekday", "date": "tomorrow"})])
    assert ok.ok and "Tuesday" in ok.content
    assert not bad.ok and "ISO date" in bad.content


def test_object_keys_accept_partial_names_when_not_exact(tmp_path):
    _, records = _build(tmp_path, n=30, seed=8, scale="types:1,generalize:1")
    executor = InProcessExecutor(timeout=5)
    for rec in records:
        env = from_record(rec)
        call = env.golden[0][0]
        if "entity" not in call.arguments:
            continue
        full = call.arguments["entity"]["name"]
        part = {**call.arguments, "entity": {"name": full[1:-1].upper(), "exact": False}}
        exact, partial = executor.run_calls(env.id, env.codes, [call, ToolCall(call.name, part)])
        assert exact.ok and partial.ok and exact.content == partial.content
        return
    pytest.fail("no environment with an object-typed key")


def test_same_bytes_under_different_hash_seeds(tmp_path):
    import os
    import subprocess
    import sys

    outs = []
    for hashseed in ("1", "2"):
        out = tmp_path / f"h{hashseed}.jsonl"
        subprocess.run([sys.executable, "-m", "toolfeedback.cli", "build", "--n", "25", "--seed", "3",
                        "--out", str(out), "--quiet", "--executor", "inprocess"],
                       env={**os.environ, "PYTHONHASHSEED": hashseed}, check=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0]
