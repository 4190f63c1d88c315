"""``toolfeedback iterate``: two real rounds on the tiny model, resuming after a failure."""

from __future__ import annotations

import json

import pytest

from toolfeedback import hookimpl
from toolfeedback.errors import ConfigError, ToolfeedbackError
from toolfeedback.train.iterate import IterateConfig, iterate
from toolfeedback.manager import create_plugin_manager

TINY = {"max_turns": 2, "max_new_tokens": 12, "batch_size": 8}
TRAIN = {"max_steps": 2, "num_generations": 4, "per_device_batch_size": 4, "max_new_tokens": 12,
         "lr": 1e-3}


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """Twelve single-hop environments, both splits present."""
    from toolfeedback.build.pipeline import BuildConfig, build

    path = tmp_path_factory.mktemp("envs") / "envs.jsonl"
    build(BuildConfig(n=12, seed=1, test_fraction=0.4, scale="none", patterns=("single-hop",),
                      out=str(path)))
    splits = [json.loads(line)["split"] for line in path.read_text().splitlines()]
    assert {"train", "test"} <= set(splits)
    return str(path), splits


def config(model, envs, out, **changes):
    values = dict(model=model, envs=envs, out=str(out), iterations=2, quiet=True,
                  rollout=dict(TINY), eval=dict(TINY), train=dict(TRAIN))
    values.update(changes)
    return IterateConfig(**values)


class Counter:
    """Counts training runs; raises in ``before_train`` of run number ``fail_at``."""

    def __init__(self, fail_at=None):
        self.trains, self.fail_at = 0, fail_at

    @hookimpl
    def before_train(self, job):
        self.trains += 1
        if self.trains == self.fail_at:
            raise RuntimeError("killed inside the train stage")


@pytest.mark.slow
def test_two_iterations_then_a_failure_resumes_without_redoing_stages(tmp_path, tiny_model, envs):
    path, splits = envs
    out = tmp_path / "run"
    first = Counter(fail_at=2)  # iteration 2's training dies
    with pytest.raises(RuntimeError, match="killed inside"):
        iterate(config(tiny_model, path, out), create_plugin_manager(plugins=[first]))
    state = json.loads((out / "state.json").read_text())
    assert list(state["done"]) == ["iter-0/eval", "iter-1/rollout", "iter-1/samples", "iter-1/ckpt",
                                   "iter-1/eval", "iter-2/rollout", "iter-2/samples"]
    rollout_mtime = (out / "iter-1" / "rollout" / "trajectories.jsonl").stat().st_mtime_ns

    again = Counter()
    summary = iterate(config(tiny_model, path, out), create_plugin_manager(plugins=[again]))
    assert again.trains == 1  # only iteration 2 trained; iteration 1 was not redone
    assert (out / "iter-1" / "rollout" / "trajectories.jsonl").stat().st_mtime_ns == rollout_mtime
    assert summary["iterations"] == 2 and len(summary["solve_f1_by_iteration"]) == 3
    assert summary["final_model"] == str(out / "iter-2" / "ckpt")

    n_train, n_test = splits.count("train"), splits.count("test")
    rows = [json.loads(line) for line in (out / "iterations.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert rows[1]["model_in"] == rows[0]["model_out"] == str(out / "iter-1" / "ckpt")
    for k, row in enumerate(rows, 1):
        where = out / f"iter-{k}"
        assert row["rollout"]["episodes"] == n_train  # collected on the train split only
        assert row["eval"]["episodes"] == n_test  # evaluated on the held-out split only
        assert 0.0 <= row["eval"]["solve_f1"] <= 1.0
        assert (where / "ckpt" / "model.safetensors").is_file()
        report = json.loads((where / "eval" / "report.json").read_text())
        assert list(report["by_split"]) == ["test"]
        logs = [json.loads(line) for line in (where / "ckpt" / "metrics.jsonl").read_text().splitlines()]
        steps = [line for line in logs if "loss" in line]
        assert [line["step"] for line in steps] == [1, 2]  # written although quiet=True
        assert all(isinstance(line[key], float) for line in steps
                   for key in ("loss", "learning_rate", "reward"))
        assert all(line["learning_rate"] == pytest.approx(1e-3) for line in steps)  # constant
    episodes = {json.loads(line)["env_id"] for line in
                (out / "iter-2" / "rollout" / "trajectories.jsonl").read_text().splitlines()}
    labels = {json.loads(line)["id"]: json.loads(line)["split"]
              for line in open(path, encoding="utf-8")}
    assert {labels[e] for e in episodes} == {"train"}

    third = Counter()
    iterate(config(tiny_model, path, out), create_plugin_manager(plugins=[third]))
    assert third.trains == 0  # everything done: nothing reruns


class StopAfter:
    """Raises after ``n`` rollout episodes: a rollout killed half-way."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    @hookimpl
    def on_trajectory_end(self, trajectory):
        self.seen += 1
        if self.seen > self.n:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_half_written_rollout_continues(tmp_path, tiny_model, envs):
    path, splits = envs
    out = tmp_path / "run"
    cfg = config(tiny_model, path, out, iterations=1, eval_start=False)
    with pytest.raises(KeyboardInterrupt):
        iterate(cfg, create_plugin_manager(plugins=[StopAfter(3)]))
    written = (out / "iter-1" / "rollout" / "trajectories.jsonl").read_text().splitlines()
    assert 1 <= len(written) < splits.count("train")
    summary = iterate(cfg, create_plugin_manager())
    rows = [json.loads(line) for line in (out / "iterations.jsonl").read_text().splitlines()]
    assert rows[0]["rollout"]["already_done"] == len(written)
    assert rows[0]["rollout"]["episodes"] == splits.count("train") - len(written)
    assert summary["start_solve_f1"] is None


def test_settings_are_checked_before_anything_runs(tmp_path, tiny_model, envs):
    path, _ = envs
    pm = create_plugin_manager()
    bad = [
        ({"iterations": 0}, "iterations must be at least 1"),
        ({"eval_split": "train"}, "must differ"),
        ({"train_split": "dev"}, "train_split must be one of train, test"),
        ({"min_solve_f1": 2.0}, "min_solve_f1"),
        ({"train": {"lr_scheduler": "sometimes"}}, "$.iterate.train.lr_scheduler: unknown 'sometimes'"),
        ({"train": {"warmup_ratio": 1.5}}, "$.iterate.train.warmup_ratio: must be in [0, 1)"),
        ({"train": {"num_generations": 1}}, "$.iterate.train.num_generations: must be at least 2"),
        ({"train": {"algorithm": "nope"}}, "nope"),
        ({"train": {"model": "x"}}, "$.iterate.train.model: set by iterate itself"),
        ({"rollout": {"max_turns": 0}}, "max_turns"),
        ({"eval": {"batch_size": "many"}}, "$.iterate.eval.batch_size"),
        ({"threads": -1}, "threads"),
    ]
    for changes, message in bad:
        with pytest.raises(ToolfeedbackError) as info:
            iterate(config(tiny_model, path, tmp_path / "bad", **changes), pm)
        assert message in str(info.value), (changes, str(info.value))
        assert "\n" not in str(info.value)
    assert not (tmp_path / "bad").exists()  # nothing written for a bad config


def test_other_settings_in_the_same_directory_are_refused(tmp_path, tiny_model, envs):
    from toolfeedback.train.iterate import State

    path, _ = envs
    out = tmp_path / "run"
    out.mkdir()
    State(out, config(tiny_model, path, out)).save()
    State(out, config(tiny_model, path, out, iterations=5, quiet=False))  # more rounds: fine
    with pytest.raises(ConfigError, match=r"state.json: .*\(train differ\)"):
        State(out, config(tiny_model, path, out, train={**TRAIN, "lr": 1.0}))


def test_cli_iterate_bad_option_is_one_line(cli, tmp_path, envs):
    path, _ = envs
    result = cli("iterate", "--model", str(tmp_path), "--envs", path, "--out", str(tmp_path / "o"),
                 "--train-option", "lr-scheduler=weekly")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "$.iterate.train.lr_scheduler: unknown 'weekly'" in result.stderr
    result = cli("iterate", "--model", str(tmp_path), "--envs", path, "--out", str(tmp_path / "o"),
                 "--train-option", "nonsense")
    assert result.returncode == 2 and "expected KEY=VALUE" in result.stderr


def _steps(tmp_path, rates):
    rollout = tmp_path / "rollout"
    rollout.mkdir()
    rows = [{"id": f"e{i}", "messages": [], "solve_rate": r} for i, r in enumerate(rates)]
    (rollout / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rollout


def test_solved_steps_can_be_left_out_of_the_step_data(tmp_path):
    from toolfeedback.train.iterate_data import build_samples

    rollout = _steps(tmp_path, [0.0, 1.0, 0.5, 1.0])
    kept = build_samples("steps", rollout, tmp_path / "all", 1.0)
    assert (kept["records"], kept["of"]) == (4, 4)
    unsolved = build_samples("steps", rollout, tmp_path / "unsolved", 1.0, solved_steps=False)
    assert (unsolved["records"], unsolved["of"]) == (2, 4)
    rates = [json.loads(line)["solve_rate"] for line in
             (tmp_path / "unsolved" / "steps.jsonl").read_text().splitlines()]
    assert rates == [0.0, 0.5]


def test_only_solved_steps_left_out_is_a_clear_error(tmp_path):
    from toolfeedback.train.iterate_data import build_samples

    rollout = _steps(tmp_path, [1.0, 1.0])
    with pytest.raises(ToolfeedbackError, match="keep solved_steps"):
        build_samples("steps", rollout, tmp_path / "out", 1.0, solved_steps=False)
    assert not (tmp_path / "out" / "steps.jsonl").exists()
