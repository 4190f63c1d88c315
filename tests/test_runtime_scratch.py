"""Sandbox scratch directories do not outlive their parent: removed on SIGTERM and at exit,
swept at the next start after a kill -9 (toolfeedback.runtime.scratch)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

PARENT = textwrap.dedent("""
    import sys, time
    from toolfeedback.runtime.sandbox import Sandbox
    from toolfeedback.runtime import scratch
    sandbox = Sandbox(workers=1)
    sandbox.warm()                      # a worker, and its scratch directory, exist now
    print(scratch.root(), flush=True)
    if sys.argv[1] == "exit":
        sandbox.close()
        sys.exit(0)
    time.sleep(120)
""")


def start(tmp_path, how):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", PARENT, how], stdout=subprocess.PIPE, text=True,
                            env=env)
    root = proc.stdout.readline().strip()
    assert root.startswith(str(tmp_path / "tf-scratch-")), root
    assert any(name.startswith(("tf-sandbox-", "tf-strict-")) for name in os.listdir(root)), os.listdir(root)
    return proc, root


@pytest.mark.parametrize("how, sig", [("exit", None), ("term", signal.SIGTERM)])
def test_the_scratch_root_is_removed_at_exit_and_on_sigterm(tmp_path, how, sig):
    proc, root = start(tmp_path, how)
    if sig is not None:
        proc.send_signal(sig)
    assert proc.wait(timeout=60) == (0 if sig is None else 128 + sig)
    assert not os.path.exists(root)
    assert os.listdir(tmp_path) == []


def test_a_root_left_by_kill_9_is_swept_at_the_next_start(tmp_path):
    proc, root = start(tmp_path, "term")
    proc.kill()
    proc.wait(timeout=60)
    assert os.path.isdir(root)  # nobody can catch SIGKILL
    # the next process that needs a scratch root sweeps it
    done = subprocess.run([sys.executable, "-c", "from toolfeedback.runtime import scratch; "
                           "import os; print(os.listdir(scratch.root()))"],
                          env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(root) and os.listdir(tmp_path) == []


def test_a_live_owner_keeps_its_root_and_odd_names_are_left_alone(tmp_path):
    from toolfeedback.runtime import scratch

    live = tmp_path / f"tf-scratch-{os.getppid()}-{scratch._start_time(os.getppid())}"
    other = tmp_path / "tf-scratch-notapid"
    live.mkdir()
    other.mkdir()
    assert scratch.sweep(tmp_path) == []
    assert live.is_dir() and other.is_dir()
