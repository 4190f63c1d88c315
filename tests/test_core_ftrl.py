import json

import pytest

from toolfeedback.errors import InputError
from toolfeedback.ftrl import from_record, read_environments, to_record
from toolfeedback.types import Pattern


@pytest.fixture
def sample(fixtures_dir):
    return fixtures_dir / "ftrl" / "sample.jsonl"


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _decoded(record):
    out = dict(record)
    for key in ("tools", "codes", "unsolved_set"):
        out[key] = json.loads(out[key])
    return out


def test_released_fields_round_trip_losslessly(sample):
    for record in _records(sample):
        back = to_record(from_record(record))
        original = _decoded(record)
        again = _decoded(back)
        if "id" not in record:  # not added: reading it back gives the same id
            assert "id" not in again and from_record(back).id == from_record(record).id
        assert again == original


def test_serialization_is_a_fixed_point(sample):
    for record in _records(sample):
        first = to_record(from_record(record))
        assert json.dumps(to_record(from_record(first)), ensure_ascii=False) == \
            json.dumps(first, ensure_ascii=False)


def test_fields_are_parsed(sample):
    envs = [env for _, env in read_environments(sample)]
    assert [e.solve_rate for e in envs] == [0.0, 0.5, 0.0]
    assert envs[0].unsolved == {"get_capital": ("Paris",), "get_population": ("2102650",)}
    assert envs[0].tool_names() == ["get_capital", "get_population"]
    assert envs[0].tools[1].extra == {"strict": False}
    assert envs[1].metadata["ftrl_extra"] == {"extra_info": {"index": 7, "note": "ünïcode kept"}}
    assert envs[2].pattern is Pattern.PARALLEL_SINGLE_HOP
    assert envs[2].golden[0][1].arguments == {"country": "Japan"}
    assert envs[2].total_answers == 2
    # ids of records without one are stable
    assert envs[0].id == from_record(_records(sample)[0]).id


def _write(tmp_path, records, name="envs.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.mark.parametrize("mutate, field", [
    (lambda r: r.update(tools=json.dumps([{"type": "function", "function": {"name": "a"}},
                                          {"type": "function", "function": {"name": "b"}},
                                          {"type": "function", "function": {"description": "x"}}])),
     "$.tools[2].function.name: missing"),
    (lambda r: r.pop("codes"), "$.codes: missing"),
    (lambda r: r.update(codes="{not json"), "$.codes: not a JSON string"),
    (lambda r: r.update(unsolved_set=json.dumps({"get_capital": "Paris"})),
     "$.unsolved_set.get_capital: expected a list of strings"),
    (lambda r: r.update(solve_rate="half"), "$.solve_rate: expected a number"),
    (lambda r: r.update(pattern="zigzag"), "$.pattern: unknown pattern 'zigzag'"),
    (lambda r: r.update(messages=[{"content": "hi"}]), "$.messages[0].role: missing"),
    (lambda r: r.update(golden=[[{"arguments": {}}]]), "$.golden[0][0].name: missing"),
])
def test_bad_fields_are_located(tmp_path, sample, mutate, field):
    good = _records(sample)[0]
    bad = dict(good)
    mutate(bad)
    path = _write(tmp_path, [good, bad])
    with pytest.raises(InputError) as info:
        list(read_environments(path))
    assert str(info.value).startswith(f"{path}:2: {field}")
    assert info.value.line == 2


def test_skip_mode_counts_bad_lines(tmp_path, sample):
    good = _records(sample)[0]
    path = _write(tmp_path, [good, "{oops", good, {"messages": []}, "", good])
    reader = read_environments(path, on_error="skip")
    assert len([env for _, env in reader]) == 3
    assert reader.skipped == 2
    assert [e.line for e in reader.errors] == [2, 4]
    assert "invalid JSON" in str(reader.errors[0])
    assert str(reader.errors[1]).endswith(":4: $.tools: missing")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_environments(tmp_path / "nope.jsonl"))
