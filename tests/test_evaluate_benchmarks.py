"""Benchmark scorers on real fixture records with hand-made predictions."""

from __future__ import annotations

import json

import pytest

from toolfeedback.contrib import bench_bfcl, bench_rotbench, bench_taubench, bench_toolhop
from toolfeedback.evaluate.driver import BenchmarkError


# --------------------------------------------------------------------------- RoTBench

@pytest.fixture
def rot(fixtures_dir):
    return bench_rotbench.load(fixtures_dir / "rotbench")


def test_rotbench_loads_every_file_and_keeps_every_turn(rot):
    assert [s["data_source"] for s in rot] == (["RoTBench/clean"] * 4 + ["RoTBench/slight"] * 2
                                               + ["RoTBench/Third_Turn/clean"] * 3)
    assert [m["role"] for m in rot[0]["messages"]] == ["system", "user"]
    third = rot[6]
    assert [m["role"] for m in third["messages"]] == ["system", "user", "assistant", "tool",
                                                      "assistant", "tool"]
    assert "max_length" in third["messages"][4]["content"] and third["messages"][5]["content"] == "'ja'"
    assert [m["role"] for m in rot[8]["messages"]][-3:] == ["tool", "assistant", "user"]
    assert rot[8]["messages"][-1]["content"] == "10"  # the reply to an ask_to_user turn
    assert rot[0]["tools"][-2:] == ["ask_to_user", "finish"]


def _both(prediction, sample):
    return (bench_rotbench.score(prediction, sample["answer"], sample["tools"], "official"),
            bench_rotbench.score(prediction, sample["answer"], sample["tools"], "ftrl"))


ALL, NONE = {"TS": 1.0, "PI": 1.0, "CF": 1.0}, {"TS": 0.0, "PI": 0.0, "CF": 0.0}


def _carried_over(sample, k):
    """evaluate.py deletes a "None"-valued parameter from the prediction for good when it
    meets an earlier answer of the same tool: a later answer with that parameter then fails."""
    tool, params = bench_rotbench.parse_action(sample["answer"][k])
    return any(bench_rotbench.parse_action(a)[0] == tool and "None" in bench_rotbench.parse_action(a)[1].values()
               for a in sample["answer"][:k])


def test_rotbench_gold_scores_full_and_wrong_scores_zero_both_ways(rot):
    carried = empty = 0
    for sample in rot:
        for k, answer in enumerate(sample["answer"]):
            official, ftrl = _both(answer, sample)
            assert ftrl == ALL
            expected = {"TS": 1.0, "PI": 1.0, "CF": 0.0} if _carried_over(sample, k) else ALL
            if bench_rotbench.parse_action(answer)[1] == {}:
                expected = NONE  # evaluate.py skips an empty input before looking at the tool
                empty += 1
            carried += expected not in (ALL, NONE)
            assert official == expected, (sample["id"], k)
        assert _both("Action: no_such_tool\nAction Input: {\"a\": 1}", sample) == (NONE, NONE)
        assert _both("no idea", sample) == (NONE, NONE)
    assert carried == 6  # "dog", "bird", "fish" of the Danish record (clean and slight), by hand
    assert empty == 1  # get_random_event {} of "an event with maximum accessibility"


def test_rotbench_hand_checked_records_official_vs_ftrl(rot):
    first = rot[0]  # nllb (max_length "None") or baidu {"text": "See you later", "tgt_lang": "jp"}
    # a parameter whose answer is "None" may take any value in RoTBench's rules, not the release's
    nllb = ('Thought: x\nAction: get_translation_nllb\nAction Input: {"input_text": "See you later", '
            '"tgt_lang": "jpn_Jpan", "src_lang": "eng_Latn", "max_length": "100"}')
    assert _both(nllb, first) == (ALL, {"TS": 1.0, "PI": 1.0, "CF": 0.0})
    # values swapped between parameters: equal multisets (release) but unequal dicts (RoTBench)
    swapped = 'Action: get_translation_baidu\nAction Input: {"text": "jp", "tgt_lang": "See you later"}'
    assert _both(swapped, first) == ({"TS": 1.0, "PI": 1.0, "CF": 0.0}, ALL)
    # an empty input scores nothing in RoTBench's rules; the release still counts the tool
    empty = "Action: get_translation_baidu\nAction Input: {}"
    assert _both(empty, first) == (NONE, {"TS": 1.0, "PI": 0.0, "CF": 0.0})
    wrong_value = 'Action: get_translation_baidu\nAction Input: {"text": "See you later", "tgt_lang": "fr"}'
    assert _both(wrong_value, first) == ({"TS": 1.0, "PI": 1.0, "CF": 0.0},) * 2
    missing = 'Action: get_translation_baidu\nAction Input: {"text": "See you later"}'
    assert _both(missing, first) == ({"TS": 1.0, "PI": 0.0, "CF": 0.0},) * 2
    trailing = 'Action: get_translation_baidu\nAction Input: {"text": "See you later", "tgt_lang": "jp"}\nDone.'
    assert _both(trailing, first) == (NONE, NONE)
    finish = rot[7]  # the answer is finish with a long recommendation
    assert finish["answer"][0].startswith("Thought:\nAction: finish")
    other = 'Action: finish\nAction Input: {"answer": "Try beatboxing."}'
    assert _both(other, finish) == (ALL, {"TS": 1.0, "PI": 1.0, "CF": 0.0})


def test_rotbench_summary_averages(rot):
    rows = [{**s, "metrics": bench_rotbench.score(s["answer"][0] if i % 2 == 0 else "x", s["answer"], s["tools"])}
            for i, s in enumerate(rot)]
    report = bench_rotbench.summarize(rows)
    assert report["TS"] == pytest.approx(5 / 9) and report["CF"] == pytest.approx(5 / 9)
    assert set(report["by_source"]) == {"RoTBench/clean", "RoTBench/slight", "RoTBench/Third_Turn/clean"}


def test_rotbench_subsets(fixtures_dir):
    third = bench_rotbench.load(fixtures_dir / "rotbench", ("Third_Turn/clean",))
    assert len(third) == 3
    assert len(bench_rotbench.load(fixtures_dir / "rotbench", ("clean",))) == 4
    with pytest.raises(BenchmarkError, match="unknown RoTBench subset"):
        bench_rotbench.load(fixtures_dir / "rotbench", ("Fifth_Turn/clean",))
    with pytest.raises(BenchmarkError, match="heavy.json: no such file"):
        bench_rotbench.load(fixtures_dir / "rotbench", ("heavy",))


def test_rotbench_bad_file_names_it(tmp_path):
    bad = tmp_path / "clean.json"
    bad.write_text("[{\"conversations\": [{\"from\": \"system\", \"value\": \"s\"}]}]")
    with pytest.raises(BenchmarkError, match="clean.json: record 0"):
        bench_rotbench.load(bad)


# --------------------------------------------------------------------------- ToolHop

@pytest.fixture
def hop(fixtures_dir):
    return bench_toolhop.load(fixtures_dir / "toolhop" / "toolhop_4.jsonl")


def test_toolhop_conversion(hop):
    env = hop[0]
    assert env.answer == "15"
    assert env.unsolved["genealogy_query"] == ("John II of Brienne, Count of Eu",)
    assert set(env.codes) == set(env.tool_names())
    for code in env.codes.values():  # example calls were dropped: defining runs nothing
        namespace: dict = {}
        exec(compile(code, "<tool>", "exec"), namespace)  # noqa: S102 - benchmark's own code
    assert "response = genealogy_query(" not in env.codes["genealogy_query"]


def test_toolhop_answer_correctness(hop):
    env = hop[0]
    good = [*env.messages, {"role": "assistant", "content": "<answer>15</answer>"}]
    via_tool = [*env.messages, {"role": "tool", "content": "The sum is 15"},
                {"role": "assistant", "content": "done"}]
    wrong = [*env.messages, {"role": "assistant", "content": "<answer>16</answer>"}]
    empty = [*env.messages, {"role": "assistant", "content": ""}]
    ends_on_tool = [*env.messages, {"role": "tool", "content": "15"}]
    assert bench_toolhop.answer_correct(good, env.answer)
    assert bench_toolhop.answer_correct(via_tool, env.answer)
    assert not bench_toolhop.answer_correct(wrong, env.answer)
    assert not bench_toolhop.answer_correct(empty, env.answer)
    assert not bench_toolhop.answer_correct(ends_on_tool, env.answer)


def test_toolhop_runs_its_tools_and_scores_solve(hop):
    from toolfeedback.runtime.executor import InProcessExecutor
    from toolfeedback.types import ToolCall

    env = hop[0]
    call = ToolCall("genealogy_query", {"individual_name": "Raoul I Of Brienne, Count Of Eu",
                                        "data_source": {"database_name": "x"}}, "c1")
    with_tools = InProcessExecutor()
    result = with_tools.run_calls(env.id, env.codes, [call])[0]
    assert "John II of Brienne" in result.content
    messages = [*env.messages,
                {"role": "assistant", "content": "", "tool_calls": [call.to_openai()]},
                {"role": "tool", "content": result.content, "tool_call_id": "c1", "name": call.name},
                {"role": "assistant", "content": "<answer>15</answer>"}]
    scores = bench_toolhop.score(env, messages)
    assert scores["AC"] == 1.0
    assert scores["solve_p"] == 1.0 and scores["solve_r"] == pytest.approx(1 / 3)
    assert scores["solve_f1"] == pytest.approx(2 * 1 / (1 + 3))


# --------------------------------------------------------------------------- tau-bench

@pytest.fixture
def tau(fixtures_dir):
    return bench_taubench.load(fixtures_dir / "taubench")


def _play_gold(task, domain):
    """A 'perfect' agent: the gold actions, each in its own assistant turn, then a reply
    to the user saying the expected outputs."""
    from toolfeedback.runtime.executor import InProcessExecutor

    data, messages, ex = domain.fresh(), [], InProcessExecutor()
    for call in bench_taubench.parse_actions(task["actions"]):
        result = ex.run_calls("r", domain.codes, [call], episode="e", state=data)[0]
        messages.append({"role": "assistant", "content": "", "tool_calls": [call.to_openai()]})
        messages.append({"role": "tool", "content": result.content, "tool_call_id": call.id})
    messages.append({"role": "assistant", "content": "Done: " + " ".join(task["outputs"])})
    return data, messages


def test_taubench_perfect_partial_wrong(tau):
    tasks, domains = tau
    retail = domains["retail"]
    task = tasks[0]  # two cancellations, output "1939.05"
    assert task["outputs"] == ["1939.05"]
    final, messages = _play_gold(task, retail)
    assert bench_taubench.score(task, retail, final, messages)["pass^1"] == 1.0
    # right end state, but the expected output never said
    silent = [{**m, "content": ""} if m["role"] == "assistant" else m for m in messages]
    assert bench_taubench.score(task, retail, final, silent)["pass^1"] == 0.0
    # only the first cancellation: the database differs
    half = {**task, "actions": task["actions"][:1]}
    partial, partial_msgs = _play_gold(half, retail)
    assert bench_taubench.score(task, retail, partial, partial_msgs)["pass^1"] == 0.0
    # nothing done at all
    assert bench_taubench.score(task, retail, retail.fresh(), [])["pass^1"] == 0.0


def test_taubench_outputs_rule_official_vs_ftrl(tau):
    tasks, _ = tau
    task = tasks[0]
    reply = [{"role": "assistant", "content": "Your refund is 1,939.05 dollars."}]
    with_call = [{**reply[0], "tool_calls": [{"id": "c", "type": "function",
                                               "function": {"name": "x", "arguments": "{}"}}]}]
    assert bench_taubench.outputs_found(task, reply)  # tau-bench reads the replies to the user
    assert not bench_taubench.outputs_found(task, with_call)
    assert not bench_taubench.outputs_found(task, reply, outputs_in="ftrl")  # the release: call turns
    assert bench_taubench.outputs_found(task, with_call, outputs_in="ftrl")
    assert bench_taubench.outputs_found(task, reply + with_call, outputs_in="all")


def test_pass_hat_k_is_tau_benchs_estimator():
    # 3 tasks, 4 trials: 4, 2 and 0 passes
    report = bench_taubench.pass_hat_k([4, 2, 0], 4)
    assert report["pass^1"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert report["pass^2"] == pytest.approx((1 + 1 / 6 + 0) / 3)
    assert report["pass^4"] == pytest.approx(1 / 3)


def test_simulated_user_prompt_and_stop_rule():
    from toolfeedback.contrib.taubench_user import SimulatedUser, system_prompt
    from toolfeedback.generation import Completion

    prompt = system_prompt("You are Mia; cancel order #1.")
    assert prompt.startswith("You are a user interacting with an agent.\n\nInstruction: You are Mia; "
                             "cancel order #1.\n\nRules:\n- Just generate one line at a time")
    assert "generate '###STOP###' as a standalone message" in prompt

    class Scripted:
        def __init__(self, lines):
            self.lines, self.seen = iter(lines), []

        def generate(self, requests, params):
            self.seen.append(requests[0].messages)
            return [[Completion(text=next(self.lines))]]

    gen = Scripted(["Hi, I need help.", "My order is #1.", "Thanks! ###STOP###"])
    user = SimulatedUser("cancel order #1", gen, None)
    assert user.opening() == "Hi, I need help."
    agent_chat = [{"role": "assistant", "content": "What is your order?"}]
    assert user.reply(agent_chat) == "My order is #1."
    assert gen.seen[-1][-1] == {"role": "user", "content": "What is your order?"}
    assert user.reply([{"role": "assistant", "content": "Done."}]) is None
    assert user.reply([{"role": "assistant", "content": "Anything else?"}]) is None


def test_taubench_replay_does_not_touch_the_pristine_database(tau):
    tasks, domains = tau
    retail = domains["retail"]
    before = bench_taubench.state_hash(retail.database)
    ref = bench_taubench.replay(retail, bench_taubench.parse_actions(tasks[1]["actions"]))
    assert bench_taubench.state_hash(retail.database) == before
    assert bench_taubench.state_hash(ref) != before
    assert bench_taubench.state_hash({"a": 1}) != bench_taubench.state_hash({"a": 1.0})
    assert bench_taubench.state_hash({"a": 1, "b": 2}) == bench_taubench.state_hash({"b": 2, "a": 1})


def test_taubench_unknown_domain_is_a_clear_error(tmp_path):
    (tmp_path / "tau-bench.jsonl").write_text('{"instruction": "x", "actions": [], "outputs": [], '
                                              '"data_source": "tau-bench/bank"}\n')
    with pytest.raises(BenchmarkError, match="unknown 'tau-bench/bank'"):
        bench_taubench.load(tmp_path)


# --------------------------------------------------------------------------- full data (optional)

def test_full_shared_data_loads(shared_data):
    assert len(bench_rotbench.load(shared_data / "rotbench")) == 105 + 210 + 70
    assert len(bench_bfcl.load(shared_data / "bfcl")) == 1000
    envs = bench_toolhop.load(shared_data / "toolhop")
    assert len(envs) == 50 and all(e.total_answers >= 1 for e in envs)
    tasks, domains = bench_taubench.load(shared_data / "ftrl-tau-bench")
    assert len(tasks) == 165 and set(domains) == {"airline", "retail"}


def test_malformed_benchmark_files_name_file_and_line(tmp_path, fixtures_dir):
    import shutil

    from toolfeedback.errors import ToolfeedbackError

    (tmp_path / "tau-bench.jsonl").write_text('{"instruction": "x", "actions": "no", "outputs": [], '
                                              '"data_source": "tau-bench/retail"}\n')
    with pytest.raises(ToolfeedbackError, match=r"tau-bench.jsonl:1.*\$\.actions"):
        bench_taubench.load(tmp_path)
    bfcl = tmp_path / "bfcl"
    shutil.copytree(fixtures_dir / "bfcl", bfcl)
    (bfcl / "possible_answer" / "BFCL_v4_multiple.json").write_text('{"id": "multiple_0"}\n')
    with pytest.raises(BenchmarkError, match=r"possible_answer/BFCL_v4_multiple.json:1"):
        bench_bfcl.load(bfcl, ("multiple",))
    with pytest.raises(BenchmarkError, match="unknown BFCL category"):
        bench_bfcl.load(bfcl, ("live_simplest",))
    with pytest.raises(BenchmarkError, match="agentic harness"):
        bench_bfcl.load(bfcl, ("memory",))


# --------------------------------------------------------------------------- ToolHop: one converter

def _release_layout(row):
    """The FTRL release's layout of a row: ``functions`` as tool name -> source."""
    from toolfeedback import toolhop

    return {**row, "functions": {name: code for code in row["functions"]
                                 for name in toolhop.defined_functions(code)}}


def test_toolhop_both_layouts_give_the_same_environment(fixtures_dir):
    from toolfeedback import toolhop

    for line in (fixtures_dir / "toolhop" / "toolhop_4.jsonl").read_text().splitlines():
        row = json.loads(line)
        listed, released = toolhop.to_environment(row), toolhop.to_environment(_release_layout(row))
        assert listed.codes and listed == released
        assert set(listed.codes) == set(listed.tool_names())
        bench = bench_toolhop.to_environment(_release_layout(row), "free")
        assert bench.codes == listed.codes and bench.messages[0]["content"].endswith(row["question"])


def test_toolhop_source_and_benchmark_share_the_converter(fixtures_dir, tmp_path):
    from toolfeedback import toolhop
    from toolfeedback.build.pipeline import BuildConfig
    from toolfeedback.plugins.source_ftrl import ToolhopSource

    row = json.loads((fixtures_dir / "toolhop" / "toolhop_4.jsonl").read_text().splitlines()[0])
    file = tmp_path / "release.jsonl"
    file.write_text(json.dumps(_release_layout(row)) + "\n")
    (env,) = ToolhopSource().scenarios(BuildConfig(source="toolhop", input=str(file)), None)
    assert env == toolhop.to_environment(row)
    assert bench_toolhop.to_environment(row).codes == env.codes


@pytest.mark.parametrize("change, message", [
    ({"functions": {"genealogy_query": "x = 1\n"}}, r"\$\.functions\.genealogy_query: defines no function"),
    ({"functions": ["def f(:\n"]}, r"\$\.functions\[0\]: not valid Python"),
    ({"functions": "def f(): pass"}, r"\$\.functions: expected a list"),
    ({"sub_task": {}}, r"\$\.sub_task: no answer"),
])
def test_toolhop_bad_rows_name_the_field(fixtures_dir, change, message):
    from toolfeedback import toolhop

    row = json.loads((fixtures_dir / "toolhop" / "toolhop_4.jsonl").read_text().splitlines()[0])
    with pytest.raises(ValueError, match=message):
        toolhop.to_environment({**row, **change})


def test_toolhop_hub_json_array_and_rows_without_sub_task(fixtures_dir, tmp_path):
    rows = [json.loads(l) for l in (fixtures_dir / "toolhop" / "toolhop_4.jsonl").read_text().splitlines()]
    array = tmp_path / "ToolHop.json"  # the Hub's file: one JSON array, release layout inside
    array.write_text(json.dumps([_release_layout(r) for r in rows], indent=1))
    envs = bench_toolhop.load(array, "free")
    assert [e.codes for e in envs] == [e.codes for e in bench_toolhop.load(fixtures_dir / "toolhop" / "toolhop_4.jsonl")]
    assert len(bench_toolhop.load(array, limit=2)) == 2
    bare = {k: v for k, v in rows[0].items() if k != "sub_task"}
    env = bench_toolhop.to_environment(bare)
    assert env.total_answers == 0 and env.codes and env.answer == "15"
