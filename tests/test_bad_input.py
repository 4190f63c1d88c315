"""Each bad-input case of the issue "every verb fails cleanly": one located line on stderr,
exit 2, no traceback, existing outputs unchanged, no stray files (staged copies, .tmp)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from test_runtime_score_cli import CALL, write
from toolfeedback.cli import main

DEEP = "[" * 200_000 + "]" * 200_000


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def one_line(err: str) -> str:
    # transformers' own "Loading weights" bar shows up when an earlier test imported it
    # before the CLI could switch it off; a fresh `toolfeedback` process has none
    err = "".join(line for line in err.splitlines(keepends=True) if "Loading weights" not in line).lstrip("\r")
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err[len("error: "):-1]


def strays(folder: Path) -> list[str]:
    """Staged copies and temp files a writer could leave behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".partial", ".tmp"))
                  or ".partial" in p.name)


def fake_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    return folder


def verbs_reading(tmp_path: Path, bad: Path) -> dict[str, list]:
    """Each verb's command line reading ``bad`` as its JSONL input (outputs under tmp_path)."""
    out = tmp_path / "out"
    model = fake_model(tmp_path / "model")
    return {
        "score": ["score", "--input", bad, "--out", out / "s.jsonl", "--quiet"],
        "build": ["build", "--source", "ftrl", "--input", bad, "--out", out / "e.jsonl", "--quiet"],
        "rollout": ["rollout", "--model", model, "--envs", bad, "--out", out / "t.jsonl",
                    "--samples-out", out / "st.jsonl", "--quiet"],
        "train": ["train", "--model", model, "--data", bad, "--out", out / "ckpt", "--quiet"],
        "eval": ["eval", "--evaluator", "solve", "--trajectories", bad, "--out", out / "r.json"],
        "eval-data": ["eval", "--evaluator", "solve", "--trajectories", bad, "--data", bad],
    }


@pytest.mark.parametrize("verb", ["score", "build", "rollout", "train", "eval", "eval-data"])
def test_200000_deep_nesting_is_a_located_error_in_every_verb(tmp_path, capsys, verb):
    bad = tmp_path / "deep.jsonl"
    bad.write_text(DEEP + "\n")
    code, err = run(capsys, *verbs_reading(tmp_path, bad)[verb])
    assert code == 2 and one_line(err).startswith(f"{bad}:1: nested too deeply")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_verify_reports_a_deep_line_as_a_failed_record(tmp_path, capsys):
    # verify is a checker: a bad record is a verdict (exit 1, one line per record on stdout)
    bad = tmp_path / "deep.jsonl"
    bad.write_text(DEEP + "\n")
    assert main(["verify", str(bad), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{bad}:1: -: nested too deeply")


def test_deep_nesting_in_a_config_file_and_a_safetensors_index(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[rollout]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, err = run(capsys, "rollout", "--config", config)
    assert code == 2 and one_line(err).startswith(f"{config}: invalid TOML")
    base = fake_model(tmp_path / "base")
    (base / "model.safetensors.index.json").write_text(DEEP)
    code, err = run(capsys, "analyze", "--base", base, "--tuned", base)
    index = base / "model.safetensors.index.json"
    assert code == 2 and one_line(err) == (f"{index}: $.weight_map: not a safetensors index "
                                           f"(an object of tensor name -> file)")


@pytest.mark.parametrize("text, column, what", [
    ('{"a": 1', 8, "Expecting ',' delimiter"),
    ('{"a": ', 7, "Expecting value"),
    ('{"a": "x\x01"}', 9, "Invalid control character"),
])
def test_json_error_columns_are_on_the_line_itself(tmp_path, capsys, text, column, what):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(text + "\n")
    code, err = run(capsys, "score", "--input", bad, "--out", tmp_path / "o.jsonl", "--quiet")
    assert code == 2 and one_line(err) == f"{bad}:1: invalid JSON: {what} at column {column}"
    assert "at at" not in err


@pytest.mark.parametrize("verb", ["score", "build"])
def test_an_empty_input_does_not_replace_an_existing_output(tmp_path, capsys, verb):
    empty, out = tmp_path / "empty.jsonl", tmp_path / "out.jsonl"
    empty.write_text("\n\n")
    out.write_text("precious\n")
    argv = (["score", "--input", empty, "--out", out, "--quiet"] if verb == "score" else
            ["build", "--source", "ftrl", "--input", empty, "--out", out, "--quiet"])
    code, err = run(capsys, *argv)
    assert code == 2 and one_line(err).startswith(f"{empty}: no ")
    assert out.read_text() == "precious\n" and strays(tmp_path) == []


def test_a_build_that_writes_nothing_keeps_the_existing_output(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    envs = tmp_path / "envs.jsonl"  # a released record whose code defines no such tool
    write(envs, [{**_env_line(), "codes": json.dumps({"get_capital": "x = 1\n"})}])
    code, err = run(capsys, "build", "--source", "ftrl", "--input", envs, "--out", out, "--quiet")
    assert code == 2 and "no environment passed (1 rejected" in one_line(err)
    assert out.read_text() == "precious\n" and strays(tmp_path) == []


@pytest.mark.parametrize("where", [".", "sub", "sub/deeper"])
def test_train_refuses_an_out_that_is_or_lies_inside_the_model(tmp_path, capsys, where):
    model = fake_model(tmp_path / "model")
    data = tmp_path / "steps.jsonl"
    data.write_text("{}\n")
    before = sorted(p.name for p in model.rglob("*"))
    code, err = run(capsys, "train", "--model", model, "--data", data, "--out", model / where)
    assert code == 2 and "would overwrite the model it starts from" in one_line(err)
    assert sorted(p.name for p in model.rglob("*")) == before


def test_train_refuses_an_out_that_is_a_file(tmp_path, capsys):
    model, afile = fake_model(tmp_path / "model"), tmp_path / "afile"
    afile.write_text("x")
    code, err = run(capsys, "train", "--model", model, "--data", afile, "--out", afile)
    assert code == 2 and one_line(err) == f"{afile}: is a file, not a directory"
    assert afile.read_text() == "x"


def test_train_takes_a_lora_checkpoint_and_names_a_missing_base(tmp_path, capsys):
    from toolfeedback.train.job import check_model_dir, lora_base

    base = fake_model(tmp_path / "base")
    adapter = tmp_path / "ckpt"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    check_model_dir(str(adapter))  # accepted, like rollout / eval / analyze accept it
    assert lora_base(str(adapter)) == str(base)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "Qwen/x"}))
    data = tmp_path / "steps.jsonl"
    data.write_text("{}\n")
    code, err = run(capsys, "train", "--model", adapter, "--data", data, "--out", tmp_path / "o")
    assert code == 2 and "a LoRA adapter whose base model 'Qwen/x' is not a local model" in one_line(err)


# --------------------------------------------------------------------------- resume


def _env_line(env_id="e1"):
    from test_runtime_score_cli import record as step_record

    row = step_record(CALL)
    row.pop("response")
    return {**row, "id": env_id}


@pytest.mark.parametrize("trajectory, samples, where", [
    ({"env_id": "e1", "sample": "x"}, None, ":1: $.sample: expected a non-negative integer"),
    ({"env_id": "e1", "sample": True}, None, ":1: $.sample: expected a non-negative integer"),
    ({"env_id": "e1", "sample": 0}, b'{"metadata": {"rollout": {"env_id": "e1", "sample": "0"}}}\n',
     ":1: $.metadata.rollout.sample: expected a non-negative integer"),
    ({"env_id": "e1", "sample": 0}, b'{"a": "\xff\xfe"}\n', ":1: not UTF-8 text"),
])
def test_resume_with_bad_records_is_located_and_leaves_no_tmp(tmp_path, capsys, trajectory, samples,
                                                              where):
    envs, out, steps = tmp_path / "envs.jsonl", tmp_path / "t.jsonl", tmp_path / "s.jsonl"
    write(envs, [_env_line()])
    out.write_text(json.dumps(trajectory) + "\n")
    if samples is not None:
        steps.write_bytes(samples)
    code, err = run(capsys, "rollout", "--model", fake_model(tmp_path / "m"), "--envs", envs,
                    "--out", out, "--samples-out", steps, "--quiet")
    bad = out if samples is None else steps
    assert code == 2 and one_line(err).startswith(f"{bad}{where}")
    assert out.read_text() == json.dumps(trajectory) + "\n"
    assert samples is None or steps.read_bytes() == samples
    assert strays(tmp_path) == []


@pytest.mark.parametrize("extra, message", [
    ([], "no such directory"),
    (["--backend", "nope"], "nope"),
    (["--backend-option", "colour=red"], "extra fields found (colour)"),
])
def test_a_failed_rollout_leaves_no_empty_outputs(tmp_path, capsys, extra, message):
    envs, out, steps = tmp_path / "envs.jsonl", tmp_path / "t.jsonl", tmp_path / "s.jsonl"
    write(envs, [_env_line()])
    code, err = run(capsys, "rollout", "--model", tmp_path / "missing", "--envs", envs, "--out", out,
                    "--samples-out", steps, "--quiet", *extra)
    assert code == 2 and message in one_line(err)
    assert not out.exists() and not steps.exists() and strays(tmp_path) == []


# --------------------------------------------------------------------------- analyze


def test_analyze_lora_adapter_with_a_wrong_base_is_one_line(tmp_path, capsys, tiny_model):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({
        "base_model_name_or_path": tiny_model, "peft_type": "LORA", "r": 4, "lora_alpha": 8,
        "target_modules": ["q_proj"], "task_type": "CAUSAL_LM"}))
    code, err = run(capsys, "analyze", "--base", tmp_path / "not-a-model", "--tuned", adapter)
    assert code == 2 and one_line(err).startswith(f"{tmp_path / 'not-a-model'}: --base: not a model")
    code, err = run(capsys, "analyze", "--base", tiny_model, "--tuned", adapter,
                    "--out", tmp_path / "o")
    assert code == 2 and f"{adapter}: --tuned: this LoRA adapter does not fit --base" in one_line(err)
    assert not (tmp_path / "o").exists() and strays(tmp_path) == []


def test_analyze_says_when_the_heat_map_is_skipped(tmp_path, capsys, tiny_model, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.partition(".")[0] == "matplotlib":
            raise ImportError("blocked in this test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    code, err = run(capsys, "analyze", "--base", tiny_model, "--tuned", tiny_model, "--out", tmp_path / "o")
    assert code == 0 and "changes.png not written" in err and "toolfeedback[train]" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["changes.json", "changes.md"]


# --------------------------------------------------------------------------- atomic writers


def test_atomic_file_and_dir_keep_the_old_output_on_failure(tmp_path):
    from toolfeedback.atomic import atomic_dir, atomic_file

    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("new")
        raise RuntimeError
    assert target.read_text() == "old"
    with atomic_file(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    (folder / "w.bin").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_dir(folder) as staging:
        (staging / "w.bin").write_text("half")
        raise KeyboardInterrupt
    assert (folder / "w.bin").read_text() == "old"
    with atomic_dir(folder) as staging:
        (staging / "w.bin").write_text("new")
        (staging / "sub").mkdir()
        (staging / "sub" / "x").write_text("1")
    assert (folder / "w.bin").read_text() == "new" and (folder / "keep.txt").read_text() == "mine"
    assert (folder / "sub" / "x").read_text() == "1" and strays(tmp_path) == []


def test_tiny_model_into_a_file_or_failing_leaves_nothing(tmp_path, capsys, monkeypatch):
    from toolfeedback import tiny_model

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "tiny"
    monkeypatch.setattr(tiny_model, "_train_tokenizer", boom)
    with pytest.raises(KeyboardInterrupt):
        tiny_model.build_tiny_model(out)
    assert not out.exists() and os.listdir(tmp_path) == []


@pytest.mark.slow
def test_train_goes_on_training_a_lora_checkpoint(tmp_path, tiny_model):
    import torch
    from safetensors.torch import load_file

    from helpers.training import ProbeRewards, small_config
    from toolfeedback.manager import create_plugin_manager
    from toolfeedback.train.job import train

    pm = create_plugin_manager(plugins=[ProbeRewards()])
    first = train(small_config(tiny_model, tmp_path / "first", adapter="lora", adapter_options={"r": 4}, max_steps=1,
                               reward="solve_f1,content_length", lr=5e-2), pm)
    second = train(small_config(str(first), tmp_path / "second", adapter="lora", adapter_options={"r": 8}, max_steps=1,
                                reward="solve_f1,content_length", lr=5e-2), pm)
    saved = json.loads((second / "adapter_config.json").read_text())
    # the same adapter trained on (its own r), still relative to the original base model
    assert saved["r"] == 4 and saved["base_model_name_or_path"] == tiny_model
    a = load_file(first / "adapter_model.safetensors")
    b = load_file(second / "adapter_model.safetensors")
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)
    assert strays(tmp_path) == []


@pytest.mark.parametrize("verb", ["score", "rollout", "train", "eval", "analyze"])
def test_an_unknown_flag_shows_the_verbs_usage(capsys, verb):
    with pytest.raises(SystemExit) as stop:
        main([verb, "--no-such-flag"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith(f"usage: toolfeedback {verb} ")
    assert f"toolfeedback {verb}: error: " in err and "Traceback" not in err


def test_no_resume_with_a_bad_model_leaves_the_old_outputs(tmp_path, capsys):
    envs, out, steps = tmp_path / "envs.jsonl", tmp_path / "t.jsonl", tmp_path / "s.jsonl"
    write(envs, [_env_line()])
    out.write_text('{"env_id": "old", "sample": 0}\n')
    steps.write_text("{}\n")
    code, err = run(capsys, "rollout", "--model", tmp_path / "missing", "--envs", envs, "--out", out,
                    "--samples-out", steps, "--no-resume", "--quiet")
    assert code == 2 and "no such directory" in one_line(err)
    assert out.read_text() == '{"env_id": "old", "sample": 0}\n' and steps.read_text() == "{}\n"
