"""Parameter-change analysis: lazy safetensors reading vs loading both models with transformers.

Builds two "small" tiny models (the second perturbed), then times
``toolfeedback.evaluate.analysis.analyze`` against the obvious baseline (``from_pretrained`` both
models, compare their state dicts), checks both agree, and prints the ratio measured in
this one run (last line ``analysis_speedup=<baseline / ours>``). Usage: ``python benchmarks/bench_analysis.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def baseline(base: Path, tuned: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(base, local_files_only=True).state_dict()
    b = AutoModelForCausalLM.from_pretrained(tuned, local_files_only=True).state_dict()
    out = {}
    for name, w0 in a.items():
        w1 = b[name]
        out[name] = float(torch.linalg.norm((w1 - w0).float()) / torch.linalg.norm(w0.float()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions of each (best kept)")
    args = parser.parse_args()
    import torch
    from safetensors.torch import load_file, save_file

    from toolfeedback.evaluate.analysis import analyze
    from toolfeedback.tiny_model import build_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-analysis-"))
    try:
        base = build_tiny_model(tmp / "base", seed=0, size="small")
        tuned = tmp / "tuned"
        shutil.copytree(base, tuned)
        state = load_file(str(tuned / "model.safetensors"))
        state = {k: v + 0.01 * torch.randn_like(v) if ".mlp." in k else v for k, v in state.items()}
        save_file(state, str(tuned / "model.safetensors"), metadata={"format": "pt"})

        def best(fn):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return min(times)

        ours = best(lambda: analyze(base, tuned, plot=False))
        theirs = best(lambda: baseline(base, tuned))
        report = analyze(base, tuned, plot=False)
        ref = baseline(base, tuned)
        worst = max(abs(t["relative"] - ref[t["name"]]) for t in report["tensors"])
        print(f"analyze (lazy safetensors): {ours * 1000:.1f} ms")
        print(f"baseline (transformers from_pretrained x2): {theirs * 1000:.1f} ms")
        print(f"max |difference| of relative change vs baseline: {worst:.2e}")
        print(f"analysis_speedup={theirs / ours:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
