"""Third-party progress bars stay out of our output (a fresh process: transformers reads the
switch when it is first imported)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_model_save_and_load_print_no_transformers_bars(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    model = tmp_path / "tiny"
    made = subprocess.run([sys.executable, "-m", "toolfeedback.cli", "tiny-model", str(model)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert made.returncode == 0, made.stderr
    assert "Writing model shards" not in made.stderr and "Loading weights" not in made.stderr
    analyzed = subprocess.run([sys.executable, "-m", "toolfeedback.cli", "analyze", "--base", str(model),
                               "--tuned", str(model), "--out", str(tmp_path / "a"), "--no-plot"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "Loading weights" not in analyzed.stderr and "it/s]" not in analyzed.stderr
