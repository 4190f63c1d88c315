"""Two real training processes on the CPU (gloo) under ``accelerate launch``, as docs/scaling.md
says to run them: both ranks take part, only the main process writes, the checkpoint loads."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.training import BAD, FIXTURE, GOOD, fixture_samples

REPO = Path(__file__).resolve().parent.parent
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))


def free_port() -> int:
    # Other runs on the machine may hold accelerate's default port 29500.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_train(out: Path, model: str, *extra: str) -> subprocess.CompletedProcess:
    """docs/scaling.md's CPU command: ``accelerate launch --config_file
    configs/accelerate_cpu2.yaml -m toolfeedback.cli train ...``."""
    cmd = [ACCELERATE, "launch", "--config_file", str(REPO / "configs" / "accelerate_cpu2.yaml"),
           "--main_process_port", str(free_port()), "-m", "toolfeedback.cli", "train",
           "--model", model, "--data", str(FIXTURE), "--out", str(out), "--max-steps", "2",
           "--max-new-tokens", "12", "--seed", "0", "--quiet", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=600)


def end_record(out: Path) -> dict:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r and "step" in r]
    assert [r["step"] for r in steps] == [1, 2]  # one writer: each step logged once
    ends = [r for r in rows if r.get("event") == "end"]
    assert len(ends) == 1 and rows[-1] is ends[0]  # one writer: no line twice
    return ends[0]


def assert_loads(out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert AutoTokenizer.from_pretrained(str(out), local_files_only=True).chat_template


@pytest.mark.slow
def test_grpo_on_two_cpu_processes(tmp_path, tiny_model):
    out = tmp_path / "ckpt"
    proc = launch_train(out, tiny_model, "--num-generations", "4", "--batch-size", "4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    end = end_record(out)
    assert (end["world_size"], end["distributed_type"], end["backend"]) == (2, "MULTI_CPU", "gloo")
    ranks = end["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["pid"] != ranks[1]["pid"]
    # TRL gathers each step's generation batch from both ranks: twice what one rank scored.
    for r in ranks:
        assert r["steps"] == 2 and r["generation_batch_size"] == 8
        assert r["completions_scored"] == 2 * 4  # 2 steps x 4 completions on this rank
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["algorithm"] == "grpo" and saved["max_steps"] == 2
    assert proc.stdout.count("saved grpo (full) checkpoint") == 1  # the main process reports
    assert_loads(out)


@pytest.mark.slow
def test_dpo_on_two_cpu_processes(tmp_path, tiny_model):
    samples = fixture_samples()
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps({"id": env.id, "responses": [BAD[0], good]}) + "\n"
                                 for env, (good, _) in zip(samples, GOOD)))
    out = tmp_path / "ckpt"
    proc = launch_train(out, tiny_model, "--algorithm", "dpo", "--algorithm-option", f"samples={responses}",
                        "--batch-size", "1", "--num-generations", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    end = end_record(out)
    assert (end["world_size"], end["backend"]) == (2, "gloo")
    assert [(r["rank"], r["steps"], r["pairs"]) for r in end["ranks"]] == [(0, 2, 3), (1, 2, 3)]
    lines = (out / "preferences.jsonl").read_text().splitlines()
    assert len(lines) == 3  # written once, by the main process
    assert_loads(out)


def test_vllm_modes_map_onto_trl_grpo_config(monkeypatch, tmp_path, tiny_model):
    """The options vllm_mode server / colocate become TRL's own GRPOConfig fields (GPU-only to run)."""
    import dataclasses
    import importlib.util

    import torch
    from trl import GRPOConfig

    from toolfeedback.plugins.policy_gradient import PolicyGradientOptions as Options, vllm_args

    trl_fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    assert vllm_args(Options()) == {"use_vllm": False}
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "vllm" else real_find_spec(name, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    server = vllm_args(Options(use_vllm=True, vllm_mode="server", vllm_server_url="http://gpu7:8000",
                               vllm_server_timeout=60.0))
    assert server == {"use_vllm": True, "vllm_mode": "server",
                      "vllm_server_base_url": "http://gpu7:8000", "vllm_server_timeout": 60.0}
    colocate = vllm_args(Options(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=0.4,
                                 vllm_tensor_parallel_size=2))
    assert colocate == {"use_vllm": True, "vllm_mode": "colocate",
                        "vllm_gpu_memory_utilization": 0.4, "vllm_tensor_parallel_size": 2}
    assert set(server) | set(colocate) <= trl_fields


def test_vllm_without_a_gpu_or_a_bad_mode_is_a_one_line_error(tmp_path, capsys, tiny_model):
    from toolfeedback.cli import main

    base = ["train", "--model", tiny_model, "--data", str(FIXTURE), "--out", str(tmp_path / "o"),
            "--max-steps", "1", "--num-generations", "2", "--batch-size", "2", "--quiet"]
    assert main([*base, "--algorithm-option", "vllm_mode=remote"]) == 2
    assert "$.train.algorithm.vllm_mode: expected one of 'server', 'colocate'" in capsys.readouterr().err
    assert main([*base, "--algorithm-option", "use_vllm=true", "--algorithm-option", "vllm_mode=colocate"]) == 2
    err = capsys.readouterr().err
    assert "use_vllm needs a CUDA GPU and vLLM" in err and "Traceback" not in err
