"""``toolfeedback eval --runner local --shards N``: shards' predictions interleaved back into
record order give the one-process predictions and report; refusals are one line."""

from __future__ import annotations

import json

import pytest

from helpers.bench_server import FIXTURES, rotbench_server
from toolfeedback.evaluate.driver import EvalConfig, evaluate
from toolfeedback.evaluate.sharded import shard_dir, sharded_evaluate
from toolfeedback.shards import ShardConfig


@pytest.fixture
def server(monkeypatch):
    with rotbench_server() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        yield srv


def _config(tmp_path, name, **kw):
    return EvalConfig(evaluator="rotbench", data=str(FIXTURES / "rotbench"), model="served",
                      backend="openai", predictions=str(tmp_path / f"{name}.jsonl"),
                      out=str(tmp_path / f"{name}.json"), quiet=True, **kw)


def test_three_local_shards_give_the_one_process_report_and_predictions(tmp_path, server, cli):
    single = evaluate(_config(tmp_path, "one"))
    assert 0 < single["TS"] < 1 and single["count"] >= 9
    asked = len(server.requests)
    args = ["eval", "--evaluator", "rotbench", "--data", str(FIXTURES / "rotbench"),
            "--model", "served", "--backend", "openai", "--predictions", str(tmp_path / "many.jsonl"),
            "--out", str(tmp_path / "many.json"), "--quiet", "--runner", "local", "--shards", "3"]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "many.json").read_text()) == single == json.loads(proc.stdout)
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert len(server.requests) == 2 * asked  # each record asked once by some shard
    assert cli(*args).returncode == 0  # finished shards are not run again
    assert len(server.requests) == 2 * asked
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


class InlineRunner:
    """The shards here, one after another; fails the shard named."""

    name = "inline"

    def __init__(self, fail=None):
        self.fail, self.ran = fail, []

    def run(self, tasks, *, parallel=None, options=None):
        from toolfeedback.shards import ShardResult, run_task

        self.ran += [t.index for t in tasks]
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


def test_a_failed_shard_is_reported_and_the_rerun_runs_only_it(tmp_path, server):
    single = evaluate(_config(tmp_path, "one", scoring="ftrl"))
    config = _config(tmp_path, "many", scoring="ftrl")
    with pytest.raises(Exception, match=r"1 of 4 shard\(s\) failed \(shard 2: boom\)"):
        sharded_evaluate(config, ShardConfig(runner="inline", shards=4), pm=_pm(InlineRunner(fail=2)))
    assert not (tmp_path / "many.json").exists()
    assert sorted(p.name for p in shard_dir(config).glob("pred-*.jsonl")) == \
        ["pred-0.jsonl", "pred-1.jsonl", "pred-3.jsonl"]
    runner = InlineRunner()
    assert sharded_evaluate(config, ShardConfig(runner="inline", shards=4), pm=_pm(runner)) == single
    assert runner.ran == [2]
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    # other settings start over rather than mixing runs
    again = InlineRunner()
    sharded_evaluate(_config(tmp_path, "many"), ShardConfig(runner="inline", shards=4), pm=_pm(again))
    assert again.ran == [0, 1, 2, 3]


def test_bfcl_shards_keep_record_order(tmp_path, monkeypatch):
    from helpers.replay_server import ReplayServer, chat_reply

    with ReplayServer(lambda body: chat_reply("no call" if len(json.dumps(body)) % 3 else
                                              "I cannot help with that.")) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        base = dict(evaluator="bfcl", data=str(FIXTURES / "bfcl"), model="served", backend="openai",
                    subset="irrelevance,simple_python,live_relevance,multiple", quiet=True)
        single = evaluate(EvalConfig(**base, predictions=str(tmp_path / "one.jsonl")))
        many = sharded_evaluate(EvalConfig(**base, predictions=str(tmp_path / "many.jsonl")),
                                ShardConfig(runner="inline", shards=2), pm=_pm(InlineRunner()))
    assert many == single and 0 < single["accuracy"] < 1
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


@pytest.mark.parametrize("evaluator, why", [
    ("taubench", "pass^k report counts every trial"), ("solve", "shard its rollout instead"),
    ("lm_eval", "runs its own loop")])
def test_evaluators_that_cannot_shard_say_so_in_one_line(tmp_path, cli, evaluator, why):
    proc = cli("eval", "--evaluator", evaluator, "--model", "m", "--out", str(tmp_path / "r.json"),
               "--runner", "local", "--shards", "2")
    assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_shard_values_are_config_errors(tmp_path, cli):
    proc = cli("eval", "--evaluator", "rotbench", "--model", "m", "--shard", "2/2")
    assert proc.returncode == 2 and "shard: expected I/N with 0 <= I < N" in proc.stderr
    proc = cli("eval", "--evaluator", "rotbench", "--model", "m", "--runner", "local")
    assert proc.returncode == 2 and "needs --predictions or --out" in proc.stderr
