"""Reward rules of PAPER.md ("Exact reward rules"), hand-made cases and a differential test
against a reference written in this file from the release's rules (not importing it)."""

from __future__ import annotations

import json
import random

import pytest

from toolfeedback import create_plugin_manager
from toolfeedback.runtime.step import WeightedReward, make_reward, run_step
from toolfeedback.errors import ConfigError, UnknownNameError
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.plugins import format_hermes, rewards_solve
from toolfeedback.registry import Catalog
from toolfeedback.types import Environment, ToolSpec

CODES = {
    "capital": "def capital(country):\n    t = {'france': 'Paris', 'italy': 'Rome', 'spain': 'Madrid'}\n"
               "    return {'country': country, 'capital': t.get(country.lower(), 'unknown')}",
    "population": "def population(city):\n    t = {'paris': 2100000, 'rome': 2800000}\n"
                  "    return t[city.lower()]",
    "both": "def both(a, b='x'):\n    return [a, b]",
    "echo": "def echo(text):\n    return text",
    "broken": "def broken():\n    raise ValueError('Paris is closed')",
}
UNSOLVED = {"capital": ("Paris", "Rome"), "population": ("2100000",), "both": ("Alpha, Beta",),
            "echo": ("Paris",)}


@pytest.fixture(scope="module")
def pm():
    return create_plugin_manager(entry_points=False, plugins=[rewards_solve, format_hermes])


@pytest.fixture(scope="module")
def hermes():
    return format_hermes.HermesFormat()


def make_env(unsolved=UNSOLVED, solve_rate=0.0, answer="Paris"):
    return Environment(id="env-1", messages=({"role": "user", "content": "q"},),
                       tools=tuple(ToolSpec(n) for n in CODES), codes=CODES,
                       unsolved={k: tuple(v) for k, v in unsolved.items()}, answer=answer,
                       solve_rate=solve_rate)


def call(name, args):
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


def scores(pm, hermes, text, env=None, **kw):
    outcome = run_step(env or make_env(), text, executor=InProcessExecutor(), tool_format=hermes, **kw)
    return {n: make_reward(pm, n).score(outcome) for n in
            ("solve_f1", "solve_precision", "solve_rate", "solve_pr", "format")}, outcome


# --------------------------------------------------------------------------- rules, by hand


def test_formulas_with_calls(pm, hermes):
    # n = 3 calls, h = 2 hits (France -> Paris, Italy -> Rome), one miss
    text = call("capital", {"country": "France"}) + call("capital", {"country": "Italy"}) + \
        call("capital", {"country": "Spain"})
    s, outcome = scores(pm, hermes, text)
    assert (outcome.n_calls, outcome.n_hits) == (3, 2)
    assert s["solve_f1"] == 2 * 2 / (3 + 1)
    assert s["solve_precision"] == 2 / 3
    assert s["solve_rate"] == 2.0
    assert s["solve_pr"] == 2 * 2 / 3
    assert s["format"] == 0.0
    assert outcome.unsolved_after["capital"] == ()
    assert outcome.unsolved_before["capital"] == ("Paris", "Rome")  # caller's copy kept


def test_at_most_one_answer_per_call_and_in_order(pm, hermes):
    env = make_env(unsolved={"echo": ("Paris", "Rome")})
    _, outcome = scores(pm, hermes, call("echo", {"text": "Paris and Rome"}), env=env)
    assert outcome.hits == ("Paris",) and outcome.unsolved_after == {"echo": ("Rome",)}


def test_same_answer_solved_once(pm, hermes):
    text = call("capital", {"country": "France"}) * 2
    s, outcome = scores(pm, hermes, text)
    assert outcome.hits == ("Paris", None)
    assert s["solve_f1"] == 2 * 1 / 3


def test_answer_parts_and_normalization(pm, hermes):
    # "Alpha, Beta" splits on ", "; each part must appear (lowercase, commas dropped)
    env = make_env(unsolved={"both": ("Alpha, Beta",)})
    _, hit = scores(pm, hermes, call("both", {"a": "ALPHA", "b": "be,ta"}), env=env)
    _, miss = scores(pm, hermes, call("both", {"a": "alpha"}), env=env)
    assert hit.hits == ("Alpha, Beta",) and miss.hits == (None,)


def test_error_text_containing_the_answer_hits(pm, hermes):
    env = make_env(unsolved={"broken": ("Paris",)})
    _, outcome = scores(pm, hermes, call("broken", {}), env=env)
    assert outcome.results[0].ok is False
    assert outcome.results[0].content == "an error occured when call broken: Paris is closed"
    assert outcome.hits == ("Paris",)


def test_numbers_are_serialized_with_str(pm, hermes):
    _, outcome = scores(pm, hermes, call("population", {"city": "Paris"}))
    assert outcome.results[0].content == "2100000" and outcome.n_hits == 1


@pytest.mark.parametrize("text,expected", [
    ("", -0.5),
    ("   <|im_end|>", -0.5),
    ('<tool_call>{"name": "capital", "arguments": {</tool_call>', -0.3),
    ("I will call </tool_call> now", -0.3),
    ("see <tool_parsed_response> here", -0.3),
    ("The capital is PARIS.", 1 / (1 + 5)),  # u = 5 answers open
    ("no idea", 0.0),
])
def test_no_call_rules(pm, hermes, text, expected):
    s, outcome = scores(pm, hermes, text)
    assert outcome.n_calls == 0
    for name in ("solve_f1", "solve_precision", "solve_rate", "solve_pr", "format"):
        assert s[name] == expected, name


def test_no_call_all_solved_and_answer_counts_before_step(pm, hermes):
    s, _ = scores(pm, hermes, "no idea", env=make_env(unsolved={}, solve_rate=1.0))
    assert s["solve_f1"] == 0.5
    s, _ = scores(pm, hermes, "It is paris", env=make_env(unsolved={}, solve_rate=1.0))
    assert s["solve_f1"] == 1.0  # 1 / (1 + 0) wins over the 0.5 rule
    s, _ = scores(pm, hermes, "It is Paris", answer=None)
    assert s["solve_f1"] == 0.0


def test_weighted_composition(pm, hermes):
    reward = make_reward(pm, "solve_f1:1.0,format:0.5")
    assert isinstance(reward, WeightedReward)
    outcome = run_step(make_env(), "", executor=InProcessExecutor(), tool_format=hermes)
    assert reward.score(outcome) == -0.5 + 0.5 * -0.5
    assert reward.components(outcome) == {"solve_f1": -0.5, "format": -0.5}
    assert type(make_reward(pm, "solve_f1")) is type(Catalog(pm).get("rewards", "solve_f1"))
    with pytest.raises(UnknownNameError, match="solve_f1"):
        make_reward(pm, "solve_f2")
    with pytest.raises(ConfigError, match="not a number"):
        make_reward(pm, "solve_f1:lots")


def test_outcome_messages(pm, hermes):
    _, outcome = scores(pm, hermes, "Let me look." + call("capital", {"country": "France"}))
    assert outcome.assistant_message["content"] == "Let me look."
    [tc] = outcome.assistant_message["tool_calls"]
    [msg] = outcome.tool_messages
    assert msg["role"] == "tool" and msg["tool_call_id"] == tc["id"] and msg["name"] == "capital"
    assert json.loads(tc["function"]["arguments"]) == {"country": "France"}
    assert outcome.solve_rate_after == pytest.approx(1 / 5)


# --------------------------------------------------------------------------- differential


def _ref_verify(predict, golden):
    if type(predict) in (dict, list):
        predict = json.dumps(predict, ensure_ascii=False)
    elif type(predict) is not str:
        predict = str(predict)
    predict = predict.lower().replace(",", "").strip()
    return all(g.lower().replace(",", "").strip() in predict for g in golden.split(", "))


def _ref_parse(text):
    """The release's Qwen parsing rules, restated."""
    begin = text.find("<tool_call>")
    if begin < 0:
        return text.strip(), []
    content = "" if begin == 0 else text[:begin].strip()
    found = []
    for chunk in text[begin:].split("</tool_call>"):
        chunk = chunk.strip()
        if not chunk.startswith("<tool_call>"):
            continue
        try:
            obj = json.loads(chunk.lstrip("<tool_call>").strip())
            if not obj.get("name", None):
                continue
            args = obj["arguments"]
            if type(args) is not dict:
                args = json.loads(args)
            found.append((obj["name"], json.dumps(args, ensure_ascii=False)))
        except Exception:  # noqa: BLE001
            continue
    return (content if found else text.strip()), found


def _ref_run(name, args_json, codes):
    try:
        args = json.loads(args_json)
        source = codes[name]
        space: dict = {}
        exec(source, space, space)  # noqa: S102 - reference only
        if name not in space:
            raise NameError(f"name {name} is not defined")
        out = space[name](**args)
        if type(out) in (dict, list):
            return json.dumps(out, ensure_ascii=False)
        return out if type(out) is str else str(out)
    except Exception as exc:  # noqa: BLE001
        return f"an error occured when call {name}: {exc}"


def ref_reward(kind, response, codes, unsolved, solve_rate, answer):
    open_count = sum(len(v) for v in unsolved.values())
    text = response.strip().removesuffix("<|endoftext|>").strip().removesuffix("<|im_end|>").strip()
    content, found = _ref_parse(text)
    if found:
        left = {k: list(v) for k, v in unsolved.items()}
        h = 0
        for name, args_json in found:
            out = _ref_run(name, args_json, codes)
            answers = left.get(name, [])
            for gold in answers:
                if _ref_verify(out, gold):
                    answers.remove(gold)
                    h += 1
                    break
        n = len(found)
        return {"solve_f1": 2 * h / (n + 1), "solve_precision": h / n, "solve_rate": float(h),
                "solve_pr": h * h / n}[kind]
    if content is None or content == "":
        return -0.5
    if "<tool_call>" in content or "</tool_call>" in content or "<tool_parsed_response>" in content:
        return -0.3
    if answer is not None and answer.lower().replace(",", "").strip() in content.lower().replace(",", "").strip():
        return 1 / (1 + open_count)
    if solve_rate == 1.0:
        return 0.5
    return 0.0


def _random_piece(rng):
    kind = rng.randrange(14)
    name = rng.choice(list(CODES) + ["missing_tool"])
    args = rng.choice([{"country": rng.choice(["France", "italy", "Spain", "Mars"])},
                       {"city": rng.choice(["Paris", "rome", "Oslo"])}, {"text": rng.choice(["Paris", "x, Rome"])},
                       {"a": "alpha", "b": "Beta"}, {}, {"wrong": 1}])
    if kind == 0:
        return f"<tool_call>{json.dumps({'name': name, 'arguments': json.dumps(args)})}</tool_call>"
    if kind == 1:
        return "<tool_call>{not json</tool_call>"
    if kind == 2:
        return f"<tool_call>\n{json.dumps({'arguments': args})}\n</tool_call>"
    if kind == 3:
        return f"<tool_call>{json.dumps({'name': name, 'arguments': '[1, 2]'})}</tool_call>"
    if kind == 4:
        return f"<tool_call>{json.dumps({'name': name, 'arguments': 7})}</tool_call>"
    if kind == 5:
        return rng.choice(["Thinking... ", "The answer is Paris. ", "", "  ", "</tool_call>", "<tool_parsed_response>"])
    if kind == 6:
        return f"<tool_call>call{json.dumps({'name': name, 'arguments': args})}</tool_call>"
    if kind == 7:
        return f"<tool_call>{json.dumps({'name': '', 'arguments': args})}</tool_call>"
    if kind == 8:
        return f"<tool_call>{json.dumps([name, args])}</tool_call>"
    if kind == 9:
        return f"<tool_call>{json.dumps({'name': name})}</tool_call>"
    return call(name, args)


def test_differential_against_release_rules(pm, hermes):
    rng = random.Random(20250811)
    executor = InProcessExecutor()
    rewards = {k: make_reward(pm, k) for k in ("solve_f1", "solve_precision", "solve_rate", "solve_pr")}
    checked = 0
    for _ in range(400):
        text = "".join(_random_piece(rng) for _ in range(rng.randrange(0, 5)))
        text += rng.choice(["", "<|im_end|>", " <|endoftext|>", "\n<|im_end|>\n<|endoftext|>", " trailing"])
        unsolved = {k: v for k, v in UNSOLVED.items() if rng.random() < 0.8}
        rate = rng.choice([0.0, 0.5, 1.0])
        answer = rng.choice(["Paris", "Rome, Italy", None])
        env = make_env(unsolved=unsolved, solve_rate=rate, answer=answer or "")
        outcome = run_step(env, text, executor=executor, tool_format=hermes, answer=answer)
        for kind, reward in rewards.items():
            want = ref_reward(kind, text, CODES, {k: list(v) for k, v in unsolved.items()}, rate, answer)
            got = reward.score(outcome)
            assert got == want and type(got) is type(want), (kind, text)
            checked += 1
    assert checked == 1600
