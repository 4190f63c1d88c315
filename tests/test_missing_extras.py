"""A half-installed setup: a verb that needs a missing optional extra says which extra to
install, in one line, exit 2, no ModuleNotFoundError traceback. Simulated in a subprocess
whose import system refuses the extra's modules (as on a core-only install)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from test_runtime_score_cli import CALL, record, write

TRAIN = ("torch", "transformers", "tokenizers", "trl", "peft", "accelerate", "datasets", "safetensors")

RUNNER = textwrap.dedent("""
    import sys
    blocked = set(sys.argv[1].split(","))

    class Blocker:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.partition(".")[0] in blocked:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker)
    from toolfeedback.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def run_without(blocked, *argv, cwd=None):
    return subprocess.run([sys.executable, "-c", RUNNER, ",".join(blocked), *map(str, argv)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def fake_model(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "adapter_config.json").write_text("{}")  # never read: config.json wins
    return folder


def envs_file(tmp_path):
    path = tmp_path / "envs.jsonl"
    row = record(CALL)
    row.pop("response")
    write(path, [{**row, "id": "e1"}])
    return path


def cases(tmp_path):
    model, envs = fake_model(tmp_path / "m"), envs_file(tmp_path)
    return {
        "demo": (TRAIN, ["demo", "--out", tmp_path / "demo"], "train"),
        "tiny-model": (TRAIN, ["tiny-model", tmp_path / "tiny"], "train"),
        "rollout": (TRAIN, ["rollout", "--model", model, "--envs", envs, "--out", tmp_path / "t.jsonl",
                            "--quiet"], "train"),
        "train": (TRAIN, ["train", "--model", model, "--data", envs, "--out", tmp_path / "ckpt",
                          "--quiet"], "train"),
        "analyze": (TRAIN, ["analyze", "--base", model, "--tuned", model], "train"),
        "eval-lm_eval": (("lm_eval",), ["eval", "--evaluator", "lm_eval", "--model", model,
                                        "--evaluator-option", "tasks=tf_arith,tf_mc"], "eval"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["demo", "tiny-model", "rollout", "train", "analyze", "eval-lm_eval"])
def test_a_missing_extra_is_named_not_a_traceback(tmp_path, verb):
    blocked, argv, extra = cases(tmp_path)[verb]
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_without(blocked, *argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: toolfeedback {verb.split('-lm')[0]} needs ")
    assert f"pip install 'toolfeedback[{extra}]'" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing half-made


def test_import_toolfeedback_and_the_light_verbs_work_without_any_extra(tmp_path):
    done = run_without(TRAIN + ("lm_eval", "matplotlib"), "plugins", "--json")
    assert done.returncode == 0, done.stderr
    assert any(p["name"] == "score_verb" for p in json.loads(done.stdout))


def test_extra_for_names_only_optional_modules():
    from toolfeedback.extras import extra_for

    assert extra_for(ModuleNotFoundError("x", name="trl.trainer")).extra == "train"
    assert extra_for(ModuleNotFoundError("x", name="lm_eval")).extra == "eval"
    assert extra_for(ModuleNotFoundError("x", name="toolfeedback.nope")) is None  # our bug
    assert extra_for(ValueError("x")) is None
