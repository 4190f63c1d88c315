"""``toolfeedback rollout --runner ray``: shards as Ray tasks on a local 2-CPU Ray, one per
OpenAI-compatible server; a Ray worker killed mid-shard is retried and resumes from its file."""

from __future__ import annotations

import json
import os
import signal

import pytest
import ray

from helpers.rollout_envs import CAPITALS, write_envs
from helpers.sharding import country, keys, rollout_args, solver_server, writers_of
from toolfeedback.cli import main
from toolfeedback.rollout.collect import RolloutConfig
from toolfeedback.rollout.sharded import shard_dir

ALL = sorted((f"env-{c}", 0) for c in CAPITALS)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (the runner uses a Ray already initialized)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_shards_survive_a_killed_worker(tmp_path):
    envs, out = tmp_path / "envs.jsonl", tmp_path / "traj.jsonl"
    write_envs(envs)
    shard0 = shard_dir(RolloutConfig(model="m", envs=str(envs), out=str(out))) / "traj-0.jsonl"
    killed: dict = {}

    def kill_shard0(n, body):
        # 4th request: shard 0 has written its first episode (3 turns) and begun the next.
        if n == 4 and not killed:
            killed["written"] = keys(shard0)
            killed["pids"] = writers_of(shard0)
            killed["at"] = len(first.requests)
            for pid in killed["pids"]:
                os.kill(pid, signal.SIGKILL)

    with solver_server(kill_shard0) as first, solver_server() as second:
        assert main(rollout_args(envs, out, first.url, second.url, extra=["--runner", "ray"])) == 0
    assert killed["pids"] and killed["written"] == [("env-Avalonia", 0)]
    assert sorted(keys(out)) == ALL  # every episode, once
    assert all(json.loads(line)["metrics"]["solve_f1"] == 1.0 for line in out.read_text().splitlines())
    # the retried task resumed: the episode it had written was not asked for again
    after = [country(b) for b in first.requests[killed["at"]:]]
    assert "Avalonia" not in after and {"Elaris", "Isolia"} <= set(after)
    assert {country(b) for b in second.requests} == set(list(CAPITALS)[1::2])
    samples = [json.loads(line) for line in out.with_name("samples.jsonl").read_text().splitlines()]
    assert len({s["id"] for s in samples}) == len(samples) == 3 * len(ALL)


def test_ray_runner_reports_a_failing_shard_after_merging_the_rest(tmp_path, capsys):
    envs, out = tmp_path / "envs.jsonl", tmp_path / "traj.jsonl"
    write_envs(envs)
    with solver_server() as good:
        dead = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
        args = rollout_args(envs, out, good.url, dead, extra=[
            "--runner", "ray", "--backend-option", "retries=0", "--backend-option", "timeout=5"])
        assert main(args) != 0
    err = capsys.readouterr().err
    assert "1 of 2 shard(s) failed (shard 1: " in err and "cannot reach the server" in err
    assert "3 episode(s) merged" in err and "Traceback" not in err
    assert sorted(keys(out)) == sorted((f"env-{c}", 0) for c in list(CAPITALS)[0::2])
