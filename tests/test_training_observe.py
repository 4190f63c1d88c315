"""Train lifecycle hooks, OUT/metrics.jsonl, the LR schedule, --threads and --split."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from helpers.rollout_envs import ScriptedGenerator, write_envs
from helpers.training import FIXTURE, small_config
from toolfeedback import hookimpl
from toolfeedback.errors import ConfigError, InputError
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.manager import create_plugin_manager
from toolfeedback.train.job import prepare_job, train


class Recorder:
    """Records the train lifecycle hooks in order."""

    def __init__(self):
        self.events = []

    @hookimpl
    def before_train(self, job):
        self.events.append(("before_train", job.out.name))

    @hookimpl
    def after_train(self, job, checkpoint):
        self.events.append(("after_train", checkpoint.name))

    @hookimpl
    def on_train_error(self, job, error):
        self.events.append(("on_train_error", str(error)))


class FakeAlgorithms:
    """``logs``: fires the job's callbacks with mixed log values; ``boom``: fails."""

    class Logs:
        name = "logs"

        def train(self, job):
            import torch

            for step, logs in enumerate([
                    {"loss": torch.tensor(0.25), "reward": "0.5", "learning_rate": 1e-6},
                    {"loss": float("nan"), "grad_norm": float("inf"), "note": "text", "epoch": 1}], 1):
                for cb in job.callbacks:
                    cb.on_log(None, SimpleNamespace(global_step=step), None, logs=logs)
            return job.out

    class Boom:
        name = "boom"

        def train(self, job):
            raise RuntimeError("out of patience")

    @hookimpl
    def register_algorithms(self, register):
        register(self.Logs())
        register(self.Boom())


def test_metrics_jsonl_holds_numbers_and_the_hooks_fire_in_order(tmp_path, tiny_model):
    rec = Recorder()
    pm = create_plugin_manager(plugins=[rec, FakeAlgorithms()])
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"stale": 1}\n')  # a previous run's lines are dropped
    train(small_config(tiny_model, out, algorithm="logs", quiet=True), pm)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[:-1] == [{"step": 1, "loss": 0.25, "reward": 0.5, "learning_rate": 1e-6},
                          {"step": 2, "loss": None, "grad_norm": None, "note": "text", "epoch": 1}]
    end = lines[-1]  # the launch and each rank's part, by after_train
    assert (end["event"], end["world_size"], [r["rank"] for r in end["ranks"]]) == ("end", 1, [0])
    assert rec.events == [("before_train", "ckpt"), ("after_train", "ckpt")]

    rec.events.clear()
    with pytest.raises(RuntimeError, match="out of patience"):
        train(small_config(tiny_model, tmp_path / "b", algorithm="boom"), pm)
    assert rec.events == [("before_train", "b"), ("on_train_error", "out of patience")]


def test_as_number():
    from toolfeedback.plugins.train_metrics import as_number

    assert as_number("1e-3") == 1e-3 and as_number(3) == 3 and as_number(True) is True
    assert as_number(float("-inf")) is None and math.isnan(float("nan"))
    assert as_number("warmup") == "warmup"


def schedule(tmp_path, model, **changes):
    job = prepare_job(small_config(model, tmp_path / "o", **changes), create_plugin_manager())
    return job.schedule_args()


def test_schedule_default_is_verls_constant_and_warmup_maps_onto_transformers(tmp_path, tiny_model):
    import dataclasses

    from transformers import TrainingArguments

    assert schedule(tmp_path, tiny_model) == {"lr_scheduler_type": "constant", "adam_beta2": 0.999}
    assert schedule(tmp_path, tiny_model, adam_beta2=0.98)["adam_beta2"] == 0.98
    args = schedule(tmp_path, tiny_model, warmup_ratio=0.1)
    assert args["lr_scheduler_type"] == "constant_with_warmup"
    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert args.get("warmup_ratio" if "warmup_ratio" in known else "warmup_steps") == 0.1
    assert schedule(tmp_path, tiny_model, lr_scheduler="cosine", warmup_steps=3) == {
        "lr_scheduler_type": "cosine", "warmup_steps": 3, "adam_beta2": 0.999}
    # The arguments are accepted by TRL, and give the warmup asked for.
    from trl import GRPOConfig

    config = GRPOConfig(output_dir=str(tmp_path / "x"), use_cpu=True, report_to="none",
                        per_device_train_batch_size=4, num_generations=4,
                        **schedule(tmp_path, tiny_model, warmup_ratio=0.1))
    assert config.get_warmup_steps(100) == 10


@pytest.mark.parametrize("changes, message", [
    ({"lr_scheduler": "weekly"}, "lr_scheduler: unknown 'weekly'"),
    ({"warmup_ratio": 1.0}, "warmup_ratio: must be in [0, 1)"),
    ({"warmup_steps": -1}, "warmup_steps: must be 0 or more"),
    ({"threads": -2}, "threads: must be 0 or more"),
    ({"adam_beta2": 1.0}, "adam_beta2: must be in [0, 1)"),
    ({"split": "dev"}, "split: expected one of 'train', 'test'"),
])
def test_bad_train_options_are_config_errors(tmp_path, tiny_model, changes, message):
    with pytest.raises(ConfigError) as info:
        prepare_job(small_config(tiny_model, tmp_path / "o", **changes), create_plugin_manager())
    assert message in str(info.value)


def test_threads(monkeypatch):
    import torch

    from toolfeedback.threads import auto_threads, set_threads

    assert [auto_threads(n) for n in (1, 2, 3, 16)] == [1, 1, 1, 8]
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert set_threads(0) is None  # the user's OMP_NUM_THREADS wins over the automatic choice
        with pytest.raises(ConfigError, match="threads"):
            set_threads(-1)
    finally:
        torch.set_num_threads(before)


def test_train_split_filters_samples(tmp_path):
    from toolfeedback.train.job import read_samples

    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["split"] = "test" if i == 0 else "train"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [s.split for s in read_samples(str(mixed), split="test")] == ["test"]
    assert len(read_samples(str(mixed), split="train")) == len(rows) - 1
    assert len(read_samples(str(mixed))) == len(rows)
    only_train = tmp_path / "train.jsonl"
    only_train.write_text("".join(json.dumps(r) + "\n" for r in rows[1:]))
    with pytest.raises(InputError, match="no step samples of split 'test' among the file's"):
        read_samples(str(only_train), split="test")


def test_rollout_and_eval_splits(tmp_path):
    from toolfeedback.evaluate.driver import EvalConfig, evaluate
    from toolfeedback.rollout.collect import RolloutConfig, rollout

    records = write_envs(tmp_path / "e.jsonl")
    for i, rec in enumerate(records):
        rec["split"] = "test" if i % 2 else "train"
    envs = tmp_path / "envs.jsonl"
    envs.write_text("".join(json.dumps(r) + "\n" for r in records))
    tests = {r["id"] for r in records if r["split"] == "test"}
    traj = tmp_path / "t.jsonl"
    for split, expected in (("test", tests), (None, {r["id"] for r in records})):
        cfg = RolloutConfig(model="s", envs=str(envs), out=str(traj), progress=False, split=split,
                            resume=False)
        summary = rollout(cfg, pm=create_plugin_manager(), generator=ScriptedGenerator(),
                          executor=InProcessExecutor())
        got = {json.loads(line)["env_id"] for line in traj.read_text().splitlines()}
        assert got == expected and summary["episodes"] == len(expected)
    report = evaluate(EvalConfig(trajectories=str(traj), data=str(envs), split="test"))
    assert list(report["by_split"]) == ["test"] and report["overall"]["episodes"] == len(tests)
    with pytest.raises(ConfigError, match="split: expected one of 'train', 'test'"):
        RolloutConfig(model="s", envs=str(envs), out=str(traj), split="dev").validate()


@pytest.mark.parametrize("argv, message", [
    (["rollout", "--model", "m", "--envs", "e", "--out", "o", "--split", "dev"], "split"),
    (["rollout", "--model", "m", "--envs", "e", "--out", "o", "--threads", "-1"], "threads"),
    (["eval", "--trajectories", "t", "--split", "validation"], "split"),
    (["eval", "--trajectories", "t", "--threads", "-3"], "threads"),
    (["train", "--model", "m", "--data", "d", "--out", "o", "--warmup-ratio", "2"], "warmup_ratio"),
    (["train", "--model", "m", "--data", "d", "--out", "o", "--lr-scheduler", "x"], "lr_scheduler"),
    (["train", "--model", "m", "--data", "d", "--out", "o", "--threads", "-1"], "threads"),
])
def test_bad_new_flags_give_one_line_errors(cli, argv, message):
    result = cli(*argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
