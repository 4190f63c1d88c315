"""``toolfeedback rollout`` end to end with the real hf backend and the tiny model."""

import json

import pytest

from helpers.rollout_envs import write_envs
from helpers.tiny import tiny_model  # noqa: F401 - fixture
from toolfeedback.cli import main


@pytest.mark.parametrize("mode", ["no-think", "think"])
def test_rollout_tiny_model_both_modes(tmp_path, tiny_model, mode, capsys):
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia", "Corvia", "Elaris"))
    out, samples = tmp_path / "t.jsonl", tmp_path / "s.jsonl"
    status = main(["rollout", "--model", tiny_model, "--envs", str(envs), "--out", str(out),
                   "--samples-out", str(samples), "--mode", mode, "--max-new-tokens", "8",
                   "--max-turns", "2", "--temperature", "0.8", "--workers", "1"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 3 and summary["tokens"] > 0
    trajs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {t["mode"] for t in trajs} == {mode} and {t["model"] for t in trajs} == {tiny_model}
    assert all(1 <= len(t["steps"]) <= 2 for t in trajs)
    assert all(t["messages"][-1]["role"] in ("assistant", "tool") for t in trajs)
    assert len(samples.read_text().splitlines()) >= 3


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia",))
    status = main(["rollout", "--model", str(tmp_path / "nope"), "--envs", str(envs),
                   "--out", str(tmp_path / "t.jsonl"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "no such directory" in err and "Traceback" not in err


def test_bad_environment_line_names_file_line_field(tmp_path, tiny_model, capsys):
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia", "Corvia"))
    with open(envs, "a") as handle:
        handle.write('{"messages": [], "tools": "[]", "codes": "{}"}\n')
    args = ["rollout", "--model", tiny_model, "--envs", str(envs), "--out", str(tmp_path / "t.jsonl"),
            "--max-new-tokens", "4", "--max-turns", "1", "--quiet"]
    assert main(args) == 2
    assert "envs.jsonl:3: $.unsolved_set: missing" in capsys.readouterr().err
    assert not (tmp_path / "t.jsonl").exists() or (tmp_path / "t.jsonl").read_text() == ""
    assert main(args + ["--skip-bad-lines"]) == 0
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 2


def test_unknown_mode_lists_known(tmp_path, capsys):
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia",))
    assert main(["rollout", "--model", "m", "--envs", str(envs), "--out", str(tmp_path / "t"),
                 "--mode", "dream"]) == 2
    assert "no-think" in capsys.readouterr().err


def test_think_mode_needs_a_thinking_template(tmp_path, tiny_model, capsys):
    import shutil

    model = tmp_path / "nothink"
    shutil.copytree(tiny_model, model)
    template = (model / "chat_template.jinja").read_text()
    (model / "chat_template.jinja").write_text(template.replace("enable_thinking", "thinking_flag"))
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia",))
    args = ["rollout", "--model", str(model), "--envs", str(envs), "--out", str(tmp_path / "t.jsonl"),
            "--max-new-tokens", "4", "--max-turns", "1", "--quiet"]
    assert main(args + ["--mode", "think"]) == 2
    assert "use --mode think-prompted" in capsys.readouterr().err
    assert main(args + ["--mode", "think-prompted"]) == 0
