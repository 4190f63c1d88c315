"""``toolfeedback rollout`` end to end with the real hf backend and the tiny model."""

import json

import pytest

from helpers.rollout_envs import write_envs
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
    assert main(args + ["--on-error", "skip"]) == 0
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


def test_samples_of_one_environment_differ_even_one_at_a_time(tmp_path, tiny_model, capsys):
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia",))
    out = tmp_path / "t.jsonl"
    assert main(["rollout", "--model", tiny_model, "--envs", str(envs), "--out", str(out),
                 "--n-samples", "3", "--temperature", "1.0", "--batch-size", "1",
                 "--max-new-tokens", "12", "--max-turns", "1", "--quiet"]) == 0
    texts = [json.loads(line)["steps"][0]["response"] for line in out.read_text().splitlines()]
    assert len(texts) == 3 and len(set(texts)) == 3


def test_config_file_and_flags(tmp_path, tiny_model, capsys):
    envs = tmp_path / "envs.jsonl"
    write_envs(envs, ("Avalonia", "Corvia"))
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[rollout]\nmodel = "{tiny_model}"\nenvs = "{envs}"\nout = "{tmp_path / "t.jsonl"}"\n'
                   'max_new_tokens = 4\nmax_turns = 1\n[rollout.backend]\nname = "hf"\ndevice = "cpu"\n')
    assert main(["rollout", "--config", str(cfg), "--limit", "1", "--quiet"]) == 0
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 1
    text = cfg.read_text()
    cfg.write_text(text.replace("max_turns = 1\n", "max_turns = 1\nbatch_sise = 3\n"))
    assert main(["rollout", "--config", str(cfg), "--quiet"]) == 2
    assert "batch_sise" in capsys.readouterr().err
    cfg.write_text(text + 'gpus = 3\n')  # lands in [rollout.backend]: hf declares no such option
    assert main(["rollout", "--config", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "$.rollout.backend: extra fields found (gpus)" in err and "Traceback" not in err
    # a flag reaches the backend's options too, typed by them
    assert main(["rollout", "--config", str(cfg.with_name("none.toml")), "--quiet"]) == 2
    cfg.write_text(text)
    assert main(["rollout", "--config", str(cfg), "--quiet", "--backend-option", "batch_size=zero"]) == 2
    assert "$.rollout.backend.batch_size" in capsys.readouterr().err
