"""Data we build runs with the release's code, and released data comes back as it was."""

from __future__ import annotations

import json

import pytest

from toolfeedback import ftrl
from toolfeedback.runtime.executor import InProcessExecutor, error_text
from toolfeedback.build.pipeline import BuildConfig, build, verify

from construction_helpers import make_pm, read_records


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("interop") / "envs.jsonl"
    build(BuildConfig(n=80, seed=11, out=str(out), executor="inprocess",
                      scale="distractors:1,types:0.5,generalize:0.5,expand:0.5"), make_pm())
    return out


def test_every_golden_call_of_a_built_file_replays_under_the_release_executor(built):
    records = read_records(built)
    assert len(records) == 80
    ours = InProcessExecutor()
    calls = 0
    for record in records:
        env = ftrl.from_record(record)
        codes = json.loads(record["codes"])
        for name, code in codes.items():
            assert ftrl.self_contained_problem(code, name) is None, name
        for step in env.golden:
            for call in step:
                mine = ours.run_calls(env.id, env.codes, [call])[0]
                try:
                    theirs = ftrl.release_call(call.name, call.arguments, codes[call.name])
                except Exception as exc:  # noqa: BLE001 - the release reports it this way
                    theirs = error_text(call.name, str(exc))
                assert mine.ok and theirs == mine.content, (env.id, call)
                calls += 1
    assert calls > 80


def test_release_executor_semantics_hide_module_level_names():
    code = "import json\nTABLE = {'a': 1}\n\ndef _h(x):\n    return TABLE[x]\n\n" \
           "def tool(x):\n    \"\"\"Doc.\"\"\"\n    return json.dumps({'v': _h(x)})\n"
    with pytest.raises(NameError):
        ftrl.release_call("tool", {"x": "a"}, code)
    fixed = ftrl.self_contained(code, "tool")
    assert fixed.splitlines()[:2] == ["def tool(x):", '    """Doc."""']
    assert ftrl.release_call("tool", {"x": "a"}, fixed) == '{"v": 1}'
    assert ftrl.self_contained(fixed, "tool") == fixed
    assert ftrl.release_call("tool", {"x": "a"}, "def tool(x):\n    return {'k': x}\n") == '{"k": "a"}'
    assert "outside 'tool'" in ftrl.self_contained_problem(code, "tool")
    with pytest.raises(ValueError, match="does not define 'other'"):
        ftrl.self_contained(code, "other")


RELEASED = (
    # key order of the release, tool keys in its own order, escapes the re-dump would change
    '{"messages": [{"role": "user", "content": "Population of the capital of Fran\\u00e7e?"}], '
    '"tools": "[{\\"type\\": \\"function\\", \\"function\\": {\\"parameters\\": {\\"type\\": \\"object\\", '
    '\\"properties\\": {\\"country\\": {\\"type\\": \\"string\\"}}, \\"required\\": [\\"country\\"]}, '
    '\\"name\\": \\"get_capital\\", \\"description\\": \\"Capital city \\\\u00e0 la carte.\\"}}]", '
    '"codes": "{\\"get_capital\\":\\"def get_capital(country):\\\\n    return \'Paris\'\\\\n\\"}", '
    '"unsolved_set": "{\\"get_capital\\": [\\"Paris\\"]}", "solve_rate": 0.5, '
    '"answer": "Paris", "data_source": "FTRL/single-hop", "split": "train", "extra": [1, 2]}'
)


def test_an_unmodified_release_record_is_written_back_byte_identical(tmp_path, fixtures_dir):
    lines = [RELEASED] + (fixtures_dir / "ftrl" / "sample.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        if not line.strip():
            continue
        back = json.dumps(ftrl.to_record(ftrl.from_record(json.loads(line))), ensure_ascii=False)
        # the release writes json.dumps(record, ensure_ascii=False): the fixtures' lines are that
        assert back == (line if line != RELEASED else json.dumps(json.loads(line), ensure_ascii=False))
    # a changed field is re-written, the others keep their text
    env = ftrl.from_record(json.loads(RELEASED))
    changed = ftrl.to_record(env.evolve(codes={"get_capital": "def get_capital(country):\n    return 'Rome'\n"}))
    original = json.loads(RELEASED)
    assert changed["tools"] == original["tools"] and changed["unsolved_set"] == original["unsolved_set"]
    assert json.loads(changed["codes"]) == {"get_capital": "def get_capital(country):\n    return 'Rome'\n"}
    assert list(changed) == list(original)


def test_a_record_without_release_defaults_gets_none_added():
    record = {"messages": [], "tools": "[]", "codes": "{}", "unsolved_set": "{}"}
    back = ftrl.to_record(ftrl.from_record(record))
    assert back == record and list(back) == list(record)


def test_verify_reports_the_right_line_of_every_bad_line(tmp_path, built):
    good = built.read_text().splitlines()[0]
    lines = ["{bad"] * 150 + [good] + ["{bad"] * 3 + ["[]"]
    file = tmp_path / "many.jsonl"
    file.write_text("\n".join(lines) + "\n")
    report = verify(file, make_pm(), executor_kind="inprocess")
    assert report.total == 155 and report.passed == 1 and report.failed == 154
    assert [f[0] for f in report.failures] == list(range(1, 151)) + [152, 153, 154, 155]
    few = verify(file, make_pm(), executor_kind="inprocess", max_kept=10)
    assert few.total == 155 and few.failed == 154 and [f[0] for f in few.failures] == list(range(1, 11))


def test_toolhop_code_runs_under_the_release_executor(fixtures_dir):
    from toolfeedback import toolhop

    row = json.loads((fixtures_dir / "toolhop" / "toolhop_4.jsonl").read_text().splitlines()[0])
    # a helper and an import at module level, as some ToolHop sources have them
    row = {**row, "functions": [
        "import math\n\ndef _half(x):\n    return x / 2\n\ndef genealogy_query(individual_name, **kw):\n"
        "    return math.floor(_half(len(individual_name)))\n\nprint(genealogy_query('ab'))\n",
        *row["functions"][1:]]}
    env = toolhop.to_environment(row)
    code = env.codes["genealogy_query"]
    assert ftrl.self_contained_problem(code, "genealogy_query") is None and "print(" not in code
    assert ftrl.release_call("genealogy_query", {"individual_name": "abcd"}, code) == "2"
    for name, code in env.codes.items():
        assert ftrl.self_contained_problem(code, name) is None
