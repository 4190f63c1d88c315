"""Untrusted input on the command line: one-line ``error:``, exit 2, no traceback, and
nothing already written is lost (no model is loaded: every case fails before that)."""

from __future__ import annotations

import json

import pytest

from test_runtime_score_cli import CALL, read, record, write
from toolfeedback.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_output_path_inside_a_file_or_on_a_directory(tmp_path, capsys):
    src, afile = tmp_path / "in.jsonl", tmp_path / "afile"
    write(src, [record(CALL)])
    afile.write_text("x")
    code, err = run(capsys, "score", "--input", src, "--out", afile / "out.jsonl", "--quiet")
    assert code == 2 and err.startswith("error: ") and "out.jsonl" in err and "not a directory" in err
    code, err = run(capsys, "score", "--input", src, "--out", tmp_path, "--quiet")
    assert code == 2 and err.startswith(f"error: {tmp_path}: ")
    code, err = run(capsys, "build", "--n", 2, "--out", tmp_path, "--quiet")
    assert code == 2 and "is a directory" in err
    code, err = run(capsys, "tiny-model", afile)
    assert code == 2 and err.startswith(f"error: {afile}")
    assert afile.read_text() == "x"


def test_failing_score_keeps_an_existing_output(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write(src, [record(CALL), "{broken"])
    out.write_text("previous\n")
    code, err = run(capsys, "score", "--input", src, "--out", out, "--quiet")
    assert code == 2 and f"{src}:2: invalid JSON" in err
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*partial"))
    write(src, [record(CALL)])
    assert run(capsys, "score", "--input", src, "--out", out, "--quiet")[0] == 0
    assert len(read(out)) == 1


def test_verify_and_rollout_refuse_an_empty_file(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, err = run(capsys, "verify", empty, "--quiet")
    assert code == 2 and err == f"error: {empty}: no environments in the file (empty)\n"
    code, err = run(capsys, "rollout", "--model", tmp_path / "no-model", "--envs", empty,
                    "--out", tmp_path / "t.jsonl", "--quiet")
    assert code == 2 and "no environments" in err and not (tmp_path / "t.jsonl").exists()


@pytest.mark.parametrize("flag, value, message", [
    ("--limit", "-2", "limit: must be at least 1"), ("--workers", "0", "workers: must be at least 1"),
    ("--temperature", "-1", "temperature: must be 0"), ("--top-p", "0", "top_p"),
    ("--tool-timeout", "0", "tool_timeout")])
def test_rollout_refuses_nonsense_numbers(tmp_path, capsys, flag, value, message):
    code, err = run(capsys, "rollout", "--model", tmp_path, "--envs", tmp_path / "e.jsonl",
                    "--out", tmp_path / "t.jsonl", flag, value)
    assert code == 2 and message in err


def test_rollout_no_resume_does_not_truncate_before_the_input_is_checked(tmp_path, capsys):
    envs, out = tmp_path / "envs.jsonl", tmp_path / "t.jsonl"
    envs.write_text('{"broken\n')
    out.write_text(json.dumps({"env_id": "a", "sample": 0}) + "\n")
    code, err = run(capsys, "rollout", "--model", tmp_path, "--envs", envs, "--out", out, "--no-resume")
    assert code == 2 and f"{envs}:1: invalid JSON" in err
    assert out.read_text() == json.dumps({"env_id": "a", "sample": 0}) + "\n"


@pytest.mark.parametrize("flag, value, message", [
    ("--limit", "-2", "limit: must be 0"), ("--batch-size", "0", "batch_size: must be at least 1"),
    ("--max-turns", "-1", "max_turns: must be 0"), ("--temperature", "-1", "temperature")])
def test_eval_refuses_nonsense_numbers(tmp_path, capsys, flag, value, message):
    trajectories = tmp_path / "t.jsonl"
    trajectories.write_text("")
    code, err = run(capsys, "eval", "--evaluator", "solve", "--trajectories", trajectories, flag, value)
    assert code == 2 and message in err


def test_eval_checks_its_output_paths_first_and_refuses_empty_trajectories(tmp_path, capsys):
    trajectories, afile = tmp_path / "t.jsonl", tmp_path / "afile"
    trajectories.write_text("")
    afile.write_text("x")
    code, err = run(capsys, "eval", "--trajectories", trajectories, "--out", afile / "r.json")
    assert code == 2 and "is a file, not a directory" in err
    code, err = run(capsys, "eval", "--trajectories", trajectories, "--out", tmp_path)
    assert code == 2 and "is a directory" in err
    code, err = run(capsys, "eval", "--trajectories", trajectories)
    assert code == 2 and err == f"error: {trajectories}: no trajectories in the file (empty)\n"


def test_analyze_refuses_a_nonpositive_top(tmp_path, capsys):
    code, err = run(capsys, "analyze", "--base", tmp_path, "--tuned", tmp_path, "--top", "-1")
    assert code == 2 and err == "error: --top must be at least 1\n"


def test_a_config_without_the_verbs_table_is_named(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[train]\nlr = 1e-6\n")
    code, err = run(capsys, "rollout", "--config", config, "--model", tmp_path, "--envs", tmp_path / "e.jsonl",
                    "--out", tmp_path / "t.jsonl")
    assert code == 2 and err == f"error: {config}: no [rollout] table (tables found: [train])\n"


@pytest.mark.parametrize("verb", ["build", "eval", "train", "rollout", "score", "verify", "analyze"])
def test_help_never_shows_an_empty_default(capsys, verb):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    out = capsys.readouterr().out
    assert "(default: None)" not in out and "(default: )" not in out
