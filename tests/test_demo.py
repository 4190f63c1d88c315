"""The README's main job: `toolfeedback demo` runs every stage offline on the CPU."""

import json

import pytest

from toolfeedback.cli import main


@pytest.mark.slow
def test_demo_runs_every_stage(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n", "8", "--train-steps", "1"]) == 0
    printed = capsys.readouterr().out
    assert [line[:5] for line in printed.splitlines() if line.startswith("[")] == \
        ["[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["build"]["written"] == 8 and summary["build"]["failed"] == 0
    assert summary["rollout"]["episodes"] == 8
    assert set(summary["eval"]) == {"solve_p", "solve_r", "solve_f1"}
    for path in ["environments.jsonl", "trajectories.jsonl", "samples.jsonl", "eval.json",
                 "tiny-model/config.json", "grpo", "analysis/changes.json"]:
        assert (out / path).exists(), path
    # Every step sample is a valid FTRL record.
    from toolfeedback.ftrl import read_environments

    assert len([e for _, e in read_environments(out / "samples.jsonl")]) >= 8


def test_demo_rejects_bad_sizes(capsys):
    assert main(["demo", "--n", "0"]) == 2
    assert "--n and --train-steps must be at least 1" in capsys.readouterr().err
