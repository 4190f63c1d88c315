"""Resume after SIGKILL: only missing episodes run; no duplicate, no torn line."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from helpers.rollout_envs import ScriptedGenerator, write_envs
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.manager import create_plugin_manager
from toolfeedback.rollout.collect import RolloutConfig, rollout

HELPERS = str(Path(__file__).parent)

CHILD = """
import sys
sys.path.insert(0, {helpers!r})
from helpers.rollout_envs import ScriptedGenerator
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.rollout.collect import RolloutConfig, rollout
cfg = RolloutConfig(model="s", envs={envs!r}, out={out!r}, samples_out={samples!r},
                    batch_size=1, progress=False)
rollout(cfg, generator=ScriptedGenerator(delay=0.15), executor=InProcessExecutor())
"""


def lines(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]  # fails on a torn line


def test_sigkill_then_resume_finishes_only_missing(tmp_path):
    envs, out, samples = tmp_path / "envs.jsonl", tmp_path / "t.jsonl", tmp_path / "s.jsonl"
    write_envs(envs)
    code = CHILD.format(helpers=HELPERS, envs=str(envs), out=str(out), samples=str(samples))
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if out.exists() and out.read_text().count("\n") >= 2:
                break
            assert child.poll() is None, "child ended before it could be killed"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    done_before = {t["env_id"] for t in lines(out)}
    assert 2 <= len(done_before) < 6
    # Also leave the torn tails a kill in the middle of a write would leave.
    with open(out, "a") as handle:
        handle.write('{"env_id": "env-Isolia", "sampl')
    with open(samples, "a") as handle:
        handle.write('{"messages": [')

    gen = ScriptedGenerator()
    cfg = RolloutConfig(model="s", envs=str(envs), out=str(out), samples_out=str(samples),
                        progress=False)
    summary = rollout(cfg, pm=create_plugin_manager(), generator=gen, executor=InProcessExecutor())
    assert summary["episodes"] == 6 - len(done_before)
    assert summary["already_done"] == len(done_before)
    trajs = lines(out)
    assert sorted(t["env_id"] for t in trajs) == sorted(f"env-{c}" for c in
                                                        ("Avalonia", "Corvia", "Elaris", "Galenor", "Isolia", "Kestria"))
    kept = lines(samples)
    keys = Counter((s["metadata"]["rollout"]["env_id"], s["metadata"]["rollout"]["step"]) for s in kept)
    assert all(v == 1 for v in keys.values())
    assert len(kept) == 3 * 6

    # A third run has nothing left to do and changes nothing.
    before = out.read_bytes(), samples.read_bytes()
    again = rollout(cfg, pm=create_plugin_manager(), generator=ScriptedGenerator(), executor=InProcessExecutor())
    assert again["episodes"] == 0
    assert (out.read_bytes(), samples.read_bytes()) == before


def test_refuses_to_append_to_a_file_that_is_not_trajectories(tmp_path):
    import pytest

    from toolfeedback.errors import InputError

    envs, out = tmp_path / "envs.jsonl", tmp_path / "t.jsonl"
    write_envs(envs)
    out.write_text('{"something": "else"}\n')
    cfg = RolloutConfig(model="s", envs=str(envs), out=str(out), progress=False)
    with pytest.raises(InputError, match="t.jsonl:1: not a trajectory record"):
        rollout(cfg, generator=ScriptedGenerator(), executor=InProcessExecutor())
