"""``toolfeedback build --runner local --shards N``: the merged file is byte for byte a
one-process build's; a killed shard or driver loses nothing and repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from toolfeedback.build.pipeline import BuildConfig, build
from toolfeedback.build.sharded import shard_dir, sharded_build
from toolfeedback.errors import ConfigError
from toolfeedback.shards import ShardConfig

ARGS = ["--n", "24", "--seed", "3", "--executor", "inprocess", "--quiet"]


def _indices(folder):
    return sorted(json.loads(line)["index"] for p in folder.glob("build-*.jsonl")
                  for line in p.read_text().splitlines() if line.endswith("}"))


def test_three_local_shards_write_the_bytes_of_one_build(tmp_path, cli):
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    assert cli("build", *ARGS, "--out", str(one)).returncode == 0
    proc = cli("build", *ARGS, "--out", str(many), "--runner", "local", "--shards", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    assert many.read_bytes() == one.read_bytes() and len(one.read_text().splitlines()) > 12
    summary = json.loads(proc.stdout)
    single = build(BuildConfig(n=24, seed=3, executor="inprocess", out=str(tmp_path / "x.jsonl")))
    assert {k: v for k, v in summary.items() if k not in ("seconds", "envs_per_minute")} == \
        {k: v for k, v in single.as_dict().items() if k not in ("seconds", "envs_per_minute")}
    # shard i built scenarios i, i + 3, ...: every scenario once, in some shard's file
    folder = shard_dir(BuildConfig(out=str(many)))
    for i in range(3):
        lines = [json.loads(l) for l in (folder / f"build-{i}.jsonl").read_text().splitlines()]
        assert [o["index"] for o in lines] == list(range(i, 24, 3))
    # the same command again: nothing to build, the same bytes
    stamp = [p.stat().st_mtime_ns for p in sorted(folder.glob("build-*.jsonl"))]
    assert cli("build", *ARGS, "--out", str(many), "--runner", "local", "--shards", "3").returncode == 0
    assert many.read_bytes() == one.read_bytes()
    assert [p.stat().st_mtime_ns for p in sorted(folder.glob("build-*.jsonl"))] == stamp


@pytest.mark.slow
def test_killed_driver_and_shards_then_rerun_builds_each_scenario_once(tmp_path, cli):
    args = ["--n", "400", "--seed", "5", "--executor", "inprocess", "--quiet"]
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    assert cli("build", *args, "--out", str(one)).returncode == 0
    sharded = [*args, "--out", str(many), "--runner", "local", "--shards", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "toolfeedback.cli", "build", *sharded],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = shard_dir(BuildConfig(out=str(many)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(_indices(folder)) < 20:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its shard processes, at once
    proc.wait()
    before = _indices(folder)
    assert 20 <= len(before) < 400 and not many.exists()
    with open(next(folder.glob("build-0.jsonl")), "a") as torn:
        torn.write('{"index": 99')  # as if killed mid-line
    assert cli("build", *sharded).returncode == 0
    assert many.read_bytes() == one.read_bytes()
    after = _indices(folder)
    assert after == list(range(400))  # once each: nothing lost, nothing built twice


class InlineRunner:
    """A third-party runner: the shards here, one after another; fails the shard named."""

    name = "inline"

    def __init__(self, fail=None):
        self.fail = fail

    def run(self, tasks, *, parallel=None, options=None):
        from toolfeedback.shards import ShardResult, run_task

        return [ShardResult(t.index, error="boom") if t.index == self.fail else run_task(t)
                for t in tasks]


def _pm(runner):
    from toolfeedback import hookimpl
    from toolfeedback.manager import create_plugin_manager

    class Plugin:
        @hookimpl
        def register_runners(self, register):
            register(runner)

    return create_plugin_manager(plugins=[Plugin()])


def test_a_failed_shard_leaves_out_untouched_and_the_rerun_finishes(tmp_path):
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    config = BuildConfig(n=12, seed=1, executor="inprocess", out=str(one))
    build(config)
    many.write_text("old\n")
    sharded = BuildConfig(n=12, seed=1, executor="inprocess", out=str(many))
    with pytest.raises(Exception, match=r"1 of 2 shard\(s\) failed \(shard 1: boom\).*not written"):
        sharded_build(sharded, ShardConfig(runner="inline", shards=2), pm=_pm(InlineRunner(fail=1)))
    assert many.read_text() == "old\n"
    assert _indices(shard_dir(sharded)) == list(range(0, 12, 2))
    summary = sharded_build(sharded, ShardConfig(runner="inline", shards=2), pm=_pm(InlineRunner()))
    assert many.read_bytes() == one.read_bytes() and summary.written + summary.rejected == 12
    # other settings start the shard files over instead of mixing two builds
    other = BuildConfig(n=12, seed=2, executor="inprocess", out=str(many))
    sharded_build(other, ShardConfig(runner="inline", shards=3), pm=_pm(InlineRunner()))
    build(BuildConfig(n=12, seed=2, executor="inprocess", out=str(one)))
    assert many.read_bytes() == one.read_bytes()


def test_ftrl_source_shards_and_bad_settings(tmp_path, fixtures_dir):
    records = fixtures_dir / "ftrl" / "sample.jsonl"
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    build(BuildConfig(source="ftrl", input=str(records), executor="inprocess", out=str(one)))
    sharded_build(BuildConfig(source="ftrl", input=str(records), executor="inprocess", out=str(many)),
                  ShardConfig(runner="inline", shards=4), pm=_pm(InlineRunner()))
    assert many.read_bytes() == one.read_bytes()
    with pytest.raises(ConfigError, match="shards: must be at least 1"):
        sharded_build(BuildConfig(out=str(many)), ShardConfig(shards=0))
    with pytest.raises(ConfigError, match="needs --input"):
        sharded_build(BuildConfig(source="ftrl", out=str(many)), ShardConfig(shards=2))
