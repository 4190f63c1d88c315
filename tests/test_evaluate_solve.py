"""The ``solve`` evaluator: Solve-P/R/F1 per pattern, split and mode, and the eval verb."""

from __future__ import annotations

import json

import pytest

from toolfeedback.cli import main
from toolfeedback.evaluate.driver import EvalConfig, evaluate
from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugins import eval_solve


def _traj(env_id, calls, solved, total, mode="no-think"):
    from toolfeedback.types import Metrics

    return {"env_id": env_id, "sample": 0, "mode": mode, "finished": "answer",
            "metrics": Metrics(calls=calls, solved=solved, total=total).as_dict(), "steps": [],
            "messages": [], "metadata": {}}


@pytest.fixture
def files(tmp_path, fixtures_dir):
    envs = tmp_path / "envs.jsonl"
    rows = []
    for line, (eid, pattern, split) in zip(
            (fixtures_dir / "ftrl" / "sample.jsonl").read_text().splitlines(),
            [("e1", "single-hop", "test"), ("e2", "multi-hop", "test"), ("e3", "multi-hop", "train")]):
        rows.append({**json.loads(line), "id": eid, "pattern": pattern, "split": split})
    envs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    traj = tmp_path / "traj.jsonl"
    trajs = [_traj("e1", 2, 2, 2), _traj("e2", 4, 1, 2), _traj("e3", 0, 0, 2, mode="think")]
    traj.write_text("".join(json.dumps(t) + "\n" for t in trajs))
    return envs, traj


def test_solve_report_by_pattern_split_mode(files):
    envs, traj = files
    pm = create_plugin_manager(entry_points=False, plugins=[eval_solve])
    report = evaluate(EvalConfig(evaluator="solve", trajectories=str(traj), data=str(envs)), pm)
    # per episode: e1 P=1 R=1 F1=1; e2 P=.25 R=.5 F1=2/6; e3 P=1 (no calls) R=0 F1=0
    overall = report["overall"]
    assert overall["episodes"] == 3
    assert overall["solve_p"] == pytest.approx((1 + 0.25 + 1) / 3)
    assert overall["solve_r"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert overall["solve_f1"] == pytest.approx((1 + 2 / 6 + 0) / 3)
    assert overall["micro"] == {"calls": 6, "solved": 3, "total": 6, "solve_p": 0.5,
                                "solve_r": 0.5, "solve_f1": 0.5}
    assert report["by_pattern"]["single-hop"]["solve_f1"] == pytest.approx(1.0)
    assert report["by_pattern"]["multi-hop"]["episodes"] == 2
    assert report["by_split"]["train"]["solve_p"] == pytest.approx(1.0)
    assert set(report["by_mode"]) == {"no-think", "think"}


def test_release_format_records_and_unknown_labels(tmp_path):
    path = tmp_path / "release.jsonl"
    path.write_text(json.dumps({"metrics": {"solve_precision": 0.5, "solve_rate": 1.0, "solve_f1": 0.8}}) + "\n")
    report = eval_solve.score_file(str(path))
    assert report["overall"]["solve_f1"] == pytest.approx(0.8)
    assert "micro" not in report["overall"] and set(report["by_pattern"]) == {"unknown"}


def test_bad_trajectory_line_names_file_line_field(tmp_path, capsys):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_traj("a", 1, 1, 1)) + "\n" + json.dumps({"metrics": {"calls": -1, "solved": 0,
                                                                                      "total": 1}}) + "\n")
    status = main(["eval", "--evaluator", "solve", "--trajectories", str(path)])
    err = capsys.readouterr().err
    assert status == 2 and "t.jsonl:2" in err and "$.metrics.calls" in err and "Traceback" not in err


def test_eval_verb_writes_report(files, tmp_path, capsys):
    envs, traj = files
    out = tmp_path / "r" / "report.json"
    status = main(["eval", "--evaluator", "solve", "--trajectories", str(traj), "--data", str(envs),
                   "--out", str(out)])
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(out.read_text())
    assert printed == saved and saved["evaluator"] == "solve" and saved["overall"]["episodes"] == 3


def test_solve_without_input_is_a_clear_error(capsys):
    assert main(["eval", "--evaluator", "solve"]) == 2
    assert "needs --trajectories" in capsys.readouterr().err


def test_unknown_evaluator_lists_known(capsys):
    assert main(["eval", "--evaluator", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no evaluator named 'nope'" in err and "toolhop" in err


def test_eval_help_explains_flags(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = capsys.readouterr().out
    for flag in ("--evaluator", "--trajectories", "--model", "--evaluator-option", "--subset", "--out", "--quiet"):
        assert flag in text


def test_evaluation_plugins_satisfy_their_base_classes():
    """Each module's register_evaluators / register_commands registers valid objects."""
    from toolfeedback.contrib import bench_bfcl, bench_rotbench, bench_taubench, bench_toolhop, lm_eval_plugin
    from toolfeedback.plugins import analyze_verb, eval_verb
    from toolfeedback.registry import Catalog
    from toolfeedback.testing import check_plugin

    modules = [eval_solve, bench_bfcl, bench_rotbench, bench_taubench, bench_toolhop, lm_eval_plugin,
               eval_verb, analyze_verb]
    for module in modules:
        assert check_plugin(module) == [], module.__name__
    pm = create_plugin_manager(entry_points=False, plugins=modules)
    assert Catalog(pm).names("evaluators") == ["bfcl", "lm_eval", "rotbench", "solve", "taubench", "toolhop"]
    assert {"eval", "analyze"} <= set(Catalog(pm).names("commands"))
    for _, evaluator in Catalog(pm).items("evaluators"):
        assert callable(evaluator.evaluate)
