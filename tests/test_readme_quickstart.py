"""The README's quick start runs as written, so it cannot drift from the code.

The ```bash blocks under "## Quick start" are run in order, in one shell, in a temporary
directory, with the installed ``toolfeedback``. Only documented size flags are made
smaller (each substitution must match exactly once: a README change that removes one
fails here, and the test is updated along with it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

#: (pattern, replacement): the sizes of the quick start, made small for a CPU test run
SMALLER = [
    (r"--n 10000\b", "--n 24"),
    (r"--limit 32 --max-new-tokens 512\b", "--limit 4 --max-new-tokens 24"),
    (r"--split test --limit 32\b", "--split test --limit 2 --max-new-tokens 16 --max-turns 2"),
    (r"--max-new-tokens 64 --max-steps 4\b", "--max-new-tokens 16 --max-steps 1"),
    (r"(--evaluator lm_eval [^\n]*)", r"\1 --limit 2"),
    (r"--iterations 2\b", "--iterations 1"),
    (r"--rollout-option limit=32\b", "--rollout-option limit=4 --rollout-option max_new_tokens=16"),
    (r"--eval-option limit=32\b", "--eval-option limit=2 --eval-option max_new_tokens=16"),
    (r"--train-option max_steps=4\b", "--train-option max_steps=1 --train-option max_new_tokens=16"),
]


def quick_start_script() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert blocks, "no ```bash block under '## Quick start'"
    script = "\n".join(blocks)
    for pattern, replacement in SMALLER:
        script, n = re.subn(pattern, replacement, script)
        assert n == 1, f"README quick start: {pattern!r} matched {n} times"
    return script


def test_the_quick_start_parses_and_every_verb_in_it_exists():
    from toolfeedback.cli import build_parser
    from toolfeedback.manager import create_plugin_manager

    parser = build_parser(create_plugin_manager())
    verbs = set(parser._subparsers._group_actions[0].choices)
    used = re.findall(r"^toolfeedback (\S+)", quick_start_script(), re.M)
    assert used and {v for v in used if not v.startswith("-")} <= verbs


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path):
    script = quick_start_script()
    tool = shutil.which("toolfeedback", path=os.path.dirname(sys.executable) + os.pathsep
                        + os.environ.get("PATH", ""))
    assert tool, "the toolfeedback console script is not installed"
    env = {**os.environ, "PATH": os.path.dirname(tool) + os.pathsep + os.environ.get("PATH", ""),
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for made in ("envs.jsonl", "tiny", "traj.jsonl", "steps.jsonl", "responses.jsonl", "scores.jsonl",
                 "ckpt", "analysis/changes.json", "runs/it"):
        assert (tmp_path / made).exists(), made
    assert "Traceback" not in done.stderr
