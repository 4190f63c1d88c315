"""``toolfeedback rollout --runner local --shards N``: shards as processes, merged into --out
exactly once, against several OpenAI-compatible servers; a killed driver loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import attrs
import pytest

from helpers.rollout_envs import CAPITALS, write_envs
from helpers.sharding import country, keys, rollout_args, solver_server
from toolfeedback.rollout.collect import RolloutConfig
from toolfeedback.rollout.sharded import ShardConfig, merge_shards, sharded_rollout, shard_dir

ALL = sorted((f"env-{c}", 0) for c in CAPITALS)


def check_outputs(out):
    """Every environment once, solved; step samples of exactly those episodes, once each."""
    assert sorted(keys(out)) == ALL
    assert all(json.loads(line)["metrics"]["solve_f1"] == 1.0 for line in out.read_text().splitlines())
    samples = [json.loads(line) for line in out.with_name("samples.jsonl").read_text().splitlines()]
    ids = [s["id"] for s in samples]
    assert len(ids) == len(set(ids)) == 3 * len(ALL)  # the prompt before each of 3 turns
    assert {(s["metadata"]["rollout"]["env_id"], 0) for s in samples} == set(ALL)


@pytest.mark.slow
def test_two_local_shards_on_two_servers_then_a_rerun_adds_nothing(tmp_path, cli):
    envs, out = tmp_path / "envs.jsonl", tmp_path / "traj.jsonl"
    write_envs(envs)
    with solver_server() as one, solver_server() as two:
        args = rollout_args(envs, out, one.url, two.url, extra=["--runner", "local"])
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
        check_outputs(out)
        # shard i talks to server i: every other environment of the file
        assert {country(b) for b in one.requests} == set(list(CAPITALS)[0::2])
        assert {country(b) for b in two.requests} == set(list(CAPITALS)[1::2])
        before, asked = out.read_text(), len(one.requests) + len(two.requests)
        assert cli(*args).returncode == 0
        assert out.read_text() == before and len(one.requests) + len(two.requests) == asked
    # the merged file is an ordinary trajectory file: Solve-P/R/F1 over all shards
    report = tmp_path / "report.json"
    proc = cli("eval", "--evaluator", "solve", "--trajectories", str(out), "--out", str(report))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text())["overall"]["solve_f1"] == 1.0


@pytest.mark.slow
def test_killed_driver_and_shards_lose_nothing_and_duplicate_nothing(tmp_path, cli):
    envs, out = tmp_path / "envs.jsonl", tmp_path / "traj.jsonl"
    write_envs(envs)
    slow = lambda n, body: time.sleep(0.2)  # noqa: E731 - room to kill mid-run
    with solver_server(slow) as one, solver_server(slow) as two:
        args = rollout_args(envs, out, one.url, two.url, extra=["--runner", "local"])
        proc = subprocess.Popen([sys.executable, "-m", "toolfeedback.cli", *args],
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        shards = shard_dir(RolloutConfig(model="m", envs=str(envs), out=str(out)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p.stat().st_size for p in shards.glob("traj-*.jsonl")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its shard processes, at once
        proc.wait()
        written = {k for p in shards.glob("traj-*.jsonl") for k in keys(p)}
        assert written and len(written) < len(ALL)
        seen = (len(one.requests), len(two.requests))
        assert cli(*args).returncode == 0
        check_outputs(out)
        again = [country(b) for b in one.requests[seen[0]:] + two.requests[seen[1]:]]
        assert not {f"env-{c}" for c in again} & {k[0] for k in written}  # not run twice


def test_merge_is_idempotent_after_a_torn_write(tmp_path):
    """A driver killed mid-merge left a torn line: merging again completes --out exactly once."""
    envs, out = tmp_path / "envs.jsonl", tmp_path / "traj.jsonl"
    write_envs(envs)
    config = RolloutConfig(model="m", envs=str(envs), out=str(out),
                           samples_out=str(tmp_path / "samples.jsonl"))
    folder = shard_dir(config)
    folder.mkdir()
    lines = {i: [] for i in range(2)}
    samples = {i: [] for i in range(2)}
    for n, c in enumerate(CAPITALS):
        record = {"env_id": f"env-{c}", "sample": 0, "metrics": {"solve_f1": 1.0}, "steps": []}
        lines[n % 2].append(json.dumps(record))
        for k in range(3):
            samples[n % 2].append(json.dumps({"id": f"env-{c}#0.{k}", "metadata": {
                "rollout": {"env_id": f"env-{c}", "sample": 0, "step": k}}}))
    for i in range(2):
        (folder / f"traj-{i}.jsonl").write_text("\n".join(lines[i]) + "\n")
        (folder / f"samples-{i}.jsonl").write_text("\n".join(samples[i]) + "\n")
    assert merge_shards(config) == {"merged": 6, "episodes_in_out": 6}
    full = out.read_text().splitlines()
    out.write_text("\n".join(full[:2]) + "\n" + full[2][:10])  # torn third line
    assert merge_shards(config) == {"merged": 4, "episodes_in_out": 6}
    assert merge_shards(config) == {"merged": 0, "episodes_in_out": 6}
    assert sorted(keys(out)) == ALL
    ids = [json.loads(line)["id"] for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 18


def test_bad_shard_settings_are_config_errors(tmp_path):
    from toolfeedback.errors import ConfigError

    envs = tmp_path / "envs.jsonl"
    write_envs(envs)
    config = RolloutConfig(model="m", envs=str(envs), out=str(tmp_path / "t.jsonl"))
    with pytest.raises(ConfigError, match="shards: must be at least 1"):
        sharded_rollout(config, ShardConfig(shards=0))
    with pytest.raises(Exception, match="no runner named 'nope'"):
        sharded_rollout(config, ShardConfig(runner="nope", shards=2))
    from toolfeedback.errors import InputError

    with pytest.raises(InputError, match="no environments of split 'test'"):
        sharded_rollout(attrs.evolve(config, split="test"), ShardConfig(shards=2))


class InlineRunner:
    """A third-party runner: every shard in this process, one after another."""

    name = "inline"

    def __init__(self):
        self.seen = []

    def run(self, tasks, *, parallel=None, options=None):
        from toolfeedback.shards import run_task

        self.seen.append((len(tasks), parallel, dict(options or {})))
        return [run_task(t) for t in tasks]


def test_a_plugin_runner_from_register_runners_runs_the_shards(tmp_path):
    from toolfeedback import hookimpl
    from toolfeedback.manager import create_plugin_manager

    runner = InlineRunner()

    class Plugin:
        @hookimpl
        def register_runners(self, register):
            register(runner)

    envs, out = tmp_path / "envs.jsonl", tmp_path / "traj.jsonl"
    write_envs(envs)
    with solver_server() as server:
        config = RolloutConfig(model="served", envs=str(envs), out=str(out), backend="openai",
                               samples_out=str(tmp_path / "samples.jsonl"), workers=1, progress=False)
        summary = sharded_rollout(config, ShardConfig(runner="inline", shards=3, parallel=2,
                                                      base_urls=(server.url,),
                                                      runner_options={"k": 1}),
                                  pm=create_plugin_manager(plugins=[Plugin()]))
    assert runner.seen == [(3, 2, {"k": 1})]
    assert summary["episodes"] == 6 and [s["episodes"] for s in summary["shards"]] == [2, 2, 2]
    check_outputs(out)
