"""The ``solve`` evaluator: Solve-P/R/F1 per pattern, split and mode, and the eval verb."""

from __future__ import annotations

import json

import pytest

from toolfeedback.cli import main
from toolfeedback.evaluate.driver import EvalConfig, evaluate
from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugins import eval_solve


def _traj(env_id, calls, solved, total, mode="no-think", claimed=None):
    """A trajectory record whose one step makes ``calls`` calls hitting ``solved`` of
    ``total`` open answers; ``claimed`` overrides the metrics it carries (a lie)."""
    from toolfeedback.types import Metrics

    step = {"index": 0, "response": "", "calls": [{"id": f"c{i}", "name": "t", "arguments": {}}
                                                   for i in range(calls)],
            "hits": [f"a{i}" for i in range(solved)],
            "unsolved_before": {"t": [f"a{i}" for i in range(total)]}}
    metrics = claimed or Metrics(calls=calls, solved=solved, total=total).as_dict()
    return {"env_id": env_id, "sample": 0, "mode": mode, "finished": "answer",
            "metrics": metrics, "steps": [step], "messages": [], "metadata": {}}


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
    assert status == 2 and err == f"error: {path}:2: $.env_id: missing or not a string\n"


def test_metrics_are_recounted_from_the_steps_not_taken_from_the_line(tmp_path):
    path = tmp_path / "t.jsonl"
    lie = {"calls": 1, "solved": 50, "total": 2, "solve_p": 1.0, "solve_r": 1.0, "solve_f1": 1.0}
    path.write_text(json.dumps(_traj("a", 1, 0, 2, claimed=lie)) + "\n")
    report = eval_solve.score_file(str(path))
    assert report["overall"]["micro"] == {"calls": 1, "solved": 0, "total": 2, "solve_p": 0.0,
                                          "solve_r": 0.0, "solve_f1": 0.0}


@pytest.mark.parametrize("change, where", [
    (lambda r: r.update(steps="many"), "$.steps: missing or not an array"),
    (lambda r: r.update(steps=[]), "$.steps: empty"),
    (lambda r: r["steps"].__setitem__(0, 3), "$.steps[0]: expected an object"),
    (lambda r: r["steps"][0].update(calls={}), "$.steps[0].calls: missing or not an array"),
    (lambda r: r["steps"][0].update(hits=[1]), "$.steps[0].hits: missing or not an array of strings"),
    (lambda r: r["steps"][0].update(hits=["zz"]), "$.steps[0].hits: 'zz' is not an open answer"),
    (lambda r: r["steps"][0].update(hits=["a0", "a1"]), "$.steps[0].hits: 2 hits from 1 calls"),
    (lambda r: r["steps"][0].update(unsolved_before=[]), "$.steps[0].unsolved_before: missing"),
    (lambda r: r.pop("env_id"), "$.env_id: missing or not a string"),
    (lambda r: r.update(env_id=7), "$.env_id: missing or not a string"),
])
def test_wrong_steps_or_env_id_are_located_errors(tmp_path, capsys, change, where):
    record = _traj("a", 1, 1, 2)
    change(record)
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(record) + "\n")
    status = main(["eval", "--evaluator", "solve", "--trajectories", str(path)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: {path}:1: {where}") and err.count("\n") == 1


def test_an_env_id_missing_from_the_data_is_refused(files, tmp_path, capsys):
    envs, _ = files
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_traj("nope", 1, 1, 2)) + "\n")
    status = main(["eval", "--evaluator", "solve", "--trajectories", str(path), "--data", str(envs)])
    err = capsys.readouterr().err
    assert status == 2 and f"{path}:1: $.env_id: 'nope' is not in the environments file" in err


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
