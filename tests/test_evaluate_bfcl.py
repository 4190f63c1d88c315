"""BFCL: every category the package ships, scored by the official checker and by our
fallback, which must agree with it."""

from __future__ import annotations

import copy
import json
import os

import pytest

from toolfeedback.contrib import bench_bfcl, bfcl_checker, bfcl_gold, bfcl_official


@pytest.fixture
def bfcl(fixtures_dir):
    return bench_bfcl.load(fixtures_dir / "bfcl")


def _both(calls, item):
    out = [bench_bfcl.score(calls, item["record"], item["truth"], item["category"], official=False)]
    if bfcl_official.available():
        out.append(bench_bfcl.score(calls, item["record"], item["truth"], item["category"], official=True))
    return [o["valid"] for o in out]


def _gold(item):
    if item["category"] in bench_bfcl.RELEVANCE_CATEGORIES:
        name = item["record"]["function"][0]["name"]
        return [] if "irrelevance" in item["category"] else [{bench_bfcl.openai_name(name): {}}]
    return bfcl_gold.gold_calls(item["record"]["function"], item["truth"], item["category"])


def test_every_category_loads(bfcl):
    assert {i["category"] for i in bfcl} == set(bench_bfcl.SINGLE_TURN_CATEGORIES)
    assert len(bfcl) == 3 * len(bench_bfcl.SINGLE_TURN_CATEGORIES)


def test_gold_scores_full_and_wrong_scores_zero_in_every_category(bfcl):
    for item in bfcl:
        gold = _gold(item)
        assert set(_both(gold, item)) == {1.0}, item["record"]["id"]
        if item["category"] in bench_bfcl.RELEVANCE_CATEGORIES:
            wrong = [{"x": {}}] if "irrelevance" in item["category"] else []
        else:
            (name, args), = gold[0].items()
            wrong = [{name + "_x": args}] + gold[1:]
        assert set(_both(wrong, item)) == {0.0}, item["record"]["id"]
        if item["category"] not in bench_bfcl.RELEVANCE_CATEGORIES:
            assert set(_both(gold + gold[:1], item)) == {0.0}  # one call too many


def test_schema_mapping_and_language_hints(bfcl):
    record = next(i for i in bfcl if i["record"]["id"] == "simple_python_1")["record"]
    tool = bench_bfcl.to_openai_tool(record["function"][0])
    assert tool["function"]["name"] == "math_factorial"
    assert tool["function"]["parameters"]["type"] == "object"
    java = next(i for i in bfcl if i["category"] == "simple_java")
    tool = bench_bfcl.to_openai_tool(java["record"]["function"][0], "simple_java")
    props = tool["function"]["parameters"]["properties"]
    assert {p["type"] for p in props.values()} == {"string"}
    assert "Java 8 SDK syntax" in tool["function"]["description"]
    assert all("string representation" in p["description"] for p in props.values())


def _record(props, required, truth):
    return ({"id": "hand", "function": [{"name": "f", "parameters": {"type": "dict", "properties": props,
                                                                      "required": required}}]},
            [{"f": truth}])


def _agree(record, calls, truth, category="simple_python"):
    ours = bfcl_checker.check(record["function"], calls, truth, category)
    if bfcl_official.available():
        assert bfcl_official.check(record["function"], calls, truth, category)["valid"] == ours["valid"]
    return ours


def test_fallback_accepts_what_the_official_checker_accepts():
    # null for an optional parameter, false / 2 as a string parameter's allowed value: a
    # value of the allowed value's type is taken as is (BFCL's "variable" rule)
    for allowed, given, rejected in (([None, ""], None, "None"), ([False, ""], False, True),
                                     ([2], 2, "2x"), (["x", "y", ""], "X", 2)):
        record, truth = _record({"a": {"type": "string"}, "b": {"type": "string"}}, ["a"],
                                {"a": ["k"], "b": allowed})
        assert _agree(record, [{"f": {"a": "K", "b": given}}], truth)["valid"], allowed
        assert not _agree(record, [{"f": {"a": "K", "b": rejected}}], truth)["valid"], allowed
        assert _agree(record, [{"f": {"a": "K"}}], truth)["valid"] == ("" in allowed)
    # a nested dict as a possible answer never raises, it just is not matched
    record, truth = _record({"d": {"type": "dict", "properties": {"k": {"type": "dict"}}}}, ["d"],
                            {"d": [{"k": {"inner": ["v"]}}]})
    result = _agree(record, [{"f": {"d": {"k": {"inner": "v"}}}}], truth)
    assert result["valid"] is False and result["error"]
    # an int for a float, strings compared without case and punctuation
    record, truth = _record({"x": {"type": "float"}, "s": {"type": "string"}}, ["x", "s"],
                            {"x": [3.0], "s": ["New York, NY"]})
    assert _agree(record, [{"f": {"x": 3, "s": "new york ny"}}], truth)["valid"]
    assert not _agree(record, [{"f": {"x": 3, "s": "new york"}}], truth)["valid"]


def test_java_and_javascript_values_are_converted_by_type():
    assert bfcl_checker.java_value("new int[]{1, 2}", "Array", "integer") == [1, 2]
    assert bfcl_checker.java_value('new ArrayList<>(Arrays.asList("a", "b"))', "ArrayList", "String") == ["a", "b"]
    assert bfcl_checker.java_value('new HashMap<String, Object>() {{ put("k", 5L); }}', "HashMap") == {"k": 5}
    assert bfcl_checker.java_value("12L", "long") == 12 and bfcl_checker.java_value("1.5f", "float") == 1.5
    assert bfcl_checker.js_value("[1, 'a']", "array") == [1, "a"]
    assert bfcl_checker.js_value('{"k": true}', "dict") == {"k": True}
    assert bfcl_checker.js_value("12n", "Bigint") == 12 and bfcl_checker.js_value("'s'", "String") == "s"


def _wrong_variants(calls):
    out = []
    (name, args), = calls[0].items()
    out.append([{name + "_x": args}] + calls[1:])
    for key, value in args.items():  # one changed value
        changed = copy.deepcopy(calls)
        new = (value + "_wrong" if isinstance(value, str) else (not value) if isinstance(value, bool)
               else value + 12345 if isinstance(value, (int, float)) else value + value[:1]
               if isinstance(value, list) and value else {"zz": 1} if isinstance(value, dict) else None)
        changed[0] = {name: {**args, key: new}}
        out.append(changed)
        break
    out.append(calls[:-1])
    return out


def test_fallback_agrees_with_the_official_checker_on_every_record_it_ships():
    if not bfcl_official.available():
        if os.environ.get("CI"):
            pytest.fail("bfcl-eval is not installed: `pip install --no-deps bfcl-eval` (see README)")
        pytest.skip("bfcl-eval is not installed (pip install --no-deps bfcl-eval)")
    data = bfcl_official.data_dir()
    items = bench_bfcl.load(data, bench_bfcl.AST_CATEGORIES)
    assert len(items) == 2501  # bfcl-eval 2026.3.23: every AST record it ships
    compared, gold_valid, disagree = 0, 0, []
    for item in items:
        record, truth, cat = item["record"], item["truth"], item["category"]
        gold = bfcl_gold.gold_calls(record["function"], truth, cat)
        for k, calls in enumerate([gold] + _wrong_variants(gold)):
            official = bfcl_official.check(record["function"], calls, truth, cat)["valid"]
            ours = bfcl_checker.check(record["function"], calls, truth, cat)["valid"]
            compared += 1
            gold_valid += official and k == 0
            if official != ours:
                disagree.append((record["id"], k))
    assert not disagree, disagree[:10]
    assert compared >= 3 * len(items)  # gold, a wrong name, a wrong value (most), one call short
    # gold answers pass the official checker except where BFCL's ground truth contradicts
    # its own schema (a required parameter absent from the answer, mixed-type lists)
    assert gold_valid == len(items) - 7, (gold_valid, len(items))  # 7 such records, by hand


# --------------------------------------------------------------------------- multi-turn

def _need_package():
    if not bfcl_official.available():
        if os.environ.get("CI"):
            pytest.fail("bfcl-eval is not installed: `pip install --no-deps bfcl-eval` (see README)")
        pytest.skip("bfcl-eval is not installed (pip install --no-deps bfcl-eval)")


def _gold_steps(record, truth_turn):
    """A ground-truth turn (``"cd(folder='x')"`` texts) as keyword calls, positional
    arguments named by the function doc's parameter order."""
    import ast as pyast

    from toolfeedback.contrib import bfcl_multi_turn

    functions, held = bfcl_multi_turn.prepare(record)
    docs = {f["name"]: f for f in functions + [f for fs in held.values() for f in fs]}
    calls = []
    for text in truth_turn:
        node = pyast.parse(text, mode="eval").body
        names = list(docs[node.func.id]["parameters"]["properties"])
        args = {names[i]: pyast.literal_eval(a) for i, a in enumerate(node.args)}
        args.update({k.arg: pyast.literal_eval(k.value) for k in node.keywords})
        calls.append((node.func.id, args))
    return calls


def test_multi_turn_gold_passes_and_idle_fails_on_bfcls_backends(tmp_path):
    _need_package()
    import json as _json

    from toolfeedback.evaluate.driver import EvalConfig, evaluate
    from toolfeedback.generation import Completion
    from toolfeedback.manager import create_plugin_manager
    from toolfeedback.plugins import backend_hf, format_hermes, modes
    from toolfeedback import hookimpl

    data = bfcl_official.data_dir()
    by_first, ids = {}, []  # two entries per category, told apart by their first question
    for category in bench_bfcl.MULTI_TURN_CATEGORIES:
        fresh = [i for i in bench_bfcl.load(data, (category,))
                 if _json.dumps(i["record"]["question"][0]) not in by_first][:2]
        for i in fresh:
            by_first[_json.dumps(i["record"]["question"][0])] = i
            ids.append(i["record"]["id"])
    assert len(ids) == 8

    def gold(request):
        users = [m for m in request.messages if m["role"] == "user"]
        item = by_first[_json.dumps([users[0]])]
        turn = len(users) - 1
        last_user = max(i for i, m in enumerate(request.messages) if m["role"] == "user")
        if any(m["role"] == "tool" for m in request.messages[last_user:]):
            return "Done."
        steps = _gold_steps(item["record"], item["truth"][turn])
        return "\n".join("<tool_call>\n" + _json.dumps({"name": n, "arguments": a}) + "\n</tool_call>"
                         for n, a in steps) or "Nothing to do."

    class Oracle:
        name = "oracle"

        def __init__(self, script):
            self.script = script

        def load(self, model, **options):
            return self

        def generate(self, requests, params):
            return [[Completion(text=self.script(r))] for r in requests]

    def run(script):
        class Reg:
            @hookimpl
            def register_backends(self, register):
                register(Oracle(script))

        pm = create_plugin_manager(entry_points=False,
                                   plugins=[modes, format_hermes, backend_hf, bench_bfcl, Reg()])
        picked = tmp_path / "picked"
        if not picked.exists():  # a data folder holding just the picked entries
            (picked / "possible_answer").mkdir(parents=True)
            for category in bench_bfcl.MULTI_TURN_CATEGORIES:
                for sub in ("", "possible_answer/"):
                    lines = (data / f"{sub}BFCL_v4_{category}.json").read_text().splitlines()
                    keep = [l for l in lines if _json.loads(l)["id"] in ids]
                    (picked / f"{sub}BFCL_v4_{category}.json").write_text("\n".join(keep) + "\n")
        return evaluate(EvalConfig(evaluator="bfcl", data=str(picked), model="x", backend="oracle",
                                   subset=",".join(bench_bfcl.MULTI_TURN_CATEGORIES), quiet=True), pm)

    report = run(gold)
    assert report["count"] == 8 and report["accuracy"] == 1.0, report
    report = run(lambda r: "I will not call anything.")
    assert report["accuracy"] == 0.0
