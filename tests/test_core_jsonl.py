import json

import pytest

from toolfeedback.errors import InputError
from toolfeedback.jsonl import JsonlReader, JsonlWriter, read_jsonl, repair_tail


def test_writer_then_reader(tmp_path):
    path = tmp_path / "sub" / "out.jsonl"
    with JsonlWriter(path) as writer:
        for i in range(3):
            writer.write({"i": i, "text": "ünï"})
    assert writer.count == 3
    assert list(read_jsonl(path)) == [{"i": 0, "text": "ünï"}, {"i": 1, "text": "ünï"},
                                     {"i": 2, "text": "ünï"}]
    assert "ünï" in path.read_text(encoding="utf-8")  # UTF-8 kept, not \\u escapes


def test_append_repairs_a_torn_last_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"i": 0}\n{"i": 1}\n{"i": 2, "tru')
    with JsonlWriter(path, mode="a") as writer:
        writer.write({"i": 2})
    assert [r["i"] for r in read_jsonl(path)] == [0, 1, 2]


def test_repair_tail_cases(tmp_path):
    path = tmp_path / "x.jsonl"
    assert repair_tail(path) == 0  # missing file
    path.write_text("")
    assert repair_tail(path) == 0
    path.write_text("partial")
    assert repair_tail(path) == len("partial") and path.read_text() == ""
    path.write_text('{"a": 1}\n')
    assert repair_tail(path) == 0 and path.read_text() == '{"a": 1}\n'


def test_parse_errors_are_located(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n')

    def parse(obj):
        return obj["a"]

    with pytest.raises(InputError, match=r"x.jsonl:2: \$.a: missing"):
        list(read_jsonl(path, parse))


def test_non_utf8_line_is_reported(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff\xfe"}\n{"a": 3}\n')
    reader = JsonlReader(path, on_error="skip")
    assert [pair for pair in reader] == [(1, {"a": 1}), (3, {"a": 3})]
    assert reader.skipped == 1 and reader.errors[0].line == 2
    with pytest.raises(InputError, match=r"x.jsonl:2: not UTF-8 text"):
        list(JsonlReader(path))


def test_directory_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        list(JsonlReader(tmp_path))


def test_on_error_is_validated(tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        JsonlReader(tmp_path / "x", on_error="ignore")


def test_reader_streams(tmp_path):
    # A generator: reading the first record does not parse the rest.
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n" + "{broken\n")
    it = iter(JsonlReader(path))
    assert next(it) == (1, {"a": 1})
    with pytest.raises(InputError):
        next(it)
