"""The README's main job: `toolfeedback demo` builds, warm-starts with SFT, trains GRPO and
evaluates on the test split before and after, offline on the CPU (a small, fast setting)."""

import json

import pytest

from toolfeedback.cli import main


@pytest.mark.slow
def test_demo_writes_report_and_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n", "16", "--sft-steps", "2", "--sft-all-steps", "1", "--rl-steps", "1",
                 "--num-generations", "2", "--sft-batch-size", "4", "--rl-batch-size", "4",
                 "--max-new-tokens", "16"]) == 0
    printed = capsys.readouterr().out
    assert [line[:5] for line in printed.splitlines() if line.startswith("[")] == \
        [f"[{i}/7]" for i in range(1, 8)]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["test_solve_f1"]) == {"base", "sft", "rl"}
    assert all(0 <= v <= 100 for v in summary["test_solve_f1"].values())
    assert summary["build"]["written"] == 16 and summary["build"]["failed"] == 0
    assert summary["train_logs"]["sft"] and summary["train_logs"]["grpo"]
    assert any("reward" in entry for entry in summary["train_logs"]["grpo"])
    report = (out / "report.md").read_text()
    for text in ("Solve-F1", "single-hop", "parallel-single-hop", "gained", "training.png",
                 "solve_by_pattern.png", "paired.png"):
        assert text in report
    for path in ["environments.jsonl", "golden.jsonl", "golden_steps.jsonl", "tiny-model/config.json",
                 "sft/config.json", "sft/metrics.jsonl", "eval-base/report.json",
                 "iterate/iter-0/eval/report.json", "iterate/iter-1/ckpt/config.json",
                 "iterate/iter-1/ckpt/metrics.jsonl", "iterate/iter-1/eval/report.json",
                 "training.png", "solve_by_pattern.png", "paired.png"]:
        assert (out / path).exists(), path
    # the golden trajectories score 100%: every train episode solved through the rollout loop
    golden = [json.loads(line) for line in (out / "golden.jsonl").read_text().splitlines()]
    assert golden and all(r["metrics"]["solve_f1"] == 1.0 for r in golden)
    tests = sum(json.loads(line)["split"] == "test"
                for line in (out / "environments.jsonl").read_text().splitlines())
    # the train split less the environments kept out for GRPO (at most half of the train split)
    held = summary["build"]["rl_envs"]
    assert held == (16 - tests) // 2
    assert len(golden) == summary["build"]["written"] - tests - held
    rl_lines = (out / "rl_environments.jsonl").read_text().splitlines()
    sft_ids = {json.loads(line)["id"] for line in (out / "sft_environments.jsonl").read_text().splitlines()}
    assert len(rl_lines) == held + tests and not sft_ids & {json.loads(x)["id"] for x in rl_lines}
    # paired counts cover every test environment
    assert all(sum(v.values()) == tests for v in summary["paired"].values())


def test_demo_rejects_bad_sizes(capsys):
    assert main(["demo", "--n", "0"]) == 2
    assert "--n must be at least 8" in capsys.readouterr().err


def test_demo_flags_come_from_its_config(monkeypatch):
    """Every DemoConfig field is a flag of its own type; a bool is a switch, not bool('False')."""
    from toolfeedback.cli import build_parser
    from toolfeedback.manager import create_plugin_manager
    from toolfeedback.plugins import demo_verb
    from toolfeedback.plugins.demo import DemoConfig

    seen = {}

    def fake_demo(out, config, pm=None):  # records the config the verb built
        seen["config"] = config
        return {"seconds": {}, "out": str(out), "test_solve_f1": {"base": 0.0, "sft": 0.0, "rl": 0.0}}

    monkeypatch.setattr("toolfeedback.plugins.demo.demo", fake_demo)
    parser = build_parser(create_plugin_manager())
    args = parser.parse_args(["demo", "--rl-solved-steps", "--rl-steps", "7", "--mode", "think"])
    assert demo_verb.DemoCommand().run(args, None) == 0
    assert seen["config"] == DemoConfig(rl_solved_steps=True, rl_steps=7, mode="think")
    seen.clear()
    assert demo_verb.DemoCommand().run(parser.parse_args(["demo"]), None) == 0
    assert seen["config"] == DemoConfig() and DemoConfig().rl_solved_steps is False
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--mode", "thinking"])


def test_bench_learning_parses_bool_values():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_learning.py"
    spec = importlib.util.spec_from_file_location("bench_learning", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_value(bool, "false") is False and bench.parse_value(bool, "True") is True
    assert bench.parse_value(int, "12") == 12
    with pytest.raises(ValueError, match="not true or false"):
        bench.parse_value(bool, "maybe")
