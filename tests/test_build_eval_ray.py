"""``build`` and ``eval`` with ``--runner ray`` on a local 2-CPU Ray: the merged outputs are
the one-process ones, and a re-run adds nothing."""

from __future__ import annotations

import json

import pytest
import ray

from helpers.bench_server import FIXTURES, rotbench_server
from toolfeedback.cli import main
from toolfeedback.evaluate.driver import EvalConfig, evaluate


@pytest.fixture(scope="module")
def server():
    """The RoTBench server, known to the Ray workers through their environment."""
    with rotbench_server() as srv:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"OPENAI_BASE_URL": srv.url}})
        yield srv
        ray.shutdown()


def test_build_on_ray_writes_the_bytes_of_one_build(tmp_path, server):
    args = ["build", "--n", "16", "--seed", "4", "--executor", "inprocess", "--quiet"]
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    assert main([*args, "--out", str(one)]) == 0
    assert main([*args, "--out", str(many), "--runner", "ray", "--shards", "2"]) == 0
    assert many.read_bytes() == one.read_bytes() and one.read_text().count("\n") > 8


def test_eval_on_ray_gives_the_one_process_report(tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    single = evaluate(EvalConfig(evaluator="rotbench", data=str(FIXTURES / "rotbench"), model="served",
                                 backend="openai", predictions=str(tmp_path / "one.jsonl"), quiet=True))
    asked = len(server.requests)
    args = ["eval", "--evaluator", "rotbench", "--data", str(FIXTURES / "rotbench"), "--model", "served",
            "--backend", "openai", "--predictions", str(tmp_path / "many.jsonl"),
            "--out", str(tmp_path / "many.json"), "--quiet", "--runner", "ray", "--shards", "2"]
    capsys.readouterr()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == single == json.loads((tmp_path / "many.json").read_text())
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert len(server.requests) == 2 * asked


@pytest.mark.slow
def test_a_killed_ray_worker_resumes_its_build_shard(tmp_path, server):
    import os
    import signal
    import threading
    import time

    from helpers.sharding import writers_of
    from toolfeedback.build.pipeline import BuildConfig
    from toolfeedback.build.sharded import shard_dir

    args = ["build", "--n", "300", "--seed", "6", "--executor", "inprocess", "--quiet"]
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    assert main([*args, "--out", str(one)]) == 0
    shard0 = shard_dir(BuildConfig(out=str(many))) / "build-0.jsonl"
    killed: dict = {}

    def kill_shard0():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if shard0.exists() and shard0.read_text().count("\n") >= 10:
                pids = [p for p in writers_of(shard0) if p != os.getpid()]
                if pids:
                    killed["lines"] = shard0.read_text().count("\n")
                    for pid in pids:
                        os.kill(pid, signal.SIGKILL)
                    killed["pids"] = pids
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_shard0)
    watcher.start()
    assert main([*args, "--out", str(many), "--runner", "ray", "--shards", "2"]) == 0
    watcher.join()
    assert killed.get("pids") and killed["lines"] < 150  # killed mid-shard, then retried
    indices = [json.loads(line)["index"] for line in shard0.read_text().splitlines()]
    assert indices == list(range(0, 300, 2))  # resumed: nothing lost, nothing built twice
    assert many.read_bytes() == one.read_bytes()
