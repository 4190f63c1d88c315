"""torch CPU threads: time one training step (forward, backward, AdamW) and one batched
``generate`` of the tiny model with each thread count, interleaved so that the machine's
load hits every count alike. This is what ``--threads`` (and its automatic default) trades.

Usage: python benchmarks/bench_threads.py [--size tiny|small] [--threads 1,2] [--repeat 5]
       [--batch 8] [--seq 256] [--new-tokens 32]
Last line: two_vs_one_thread_ratio=<seconds with 2 threads / seconds with 1> (above 1: one
thread is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", help="tiny-model size (default small)")
    parser.add_argument("--threads", default="1,2", help="thread counts to compare (default 1,2)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds over the thread counts")
    parser.add_argument("--batch", type=int, default=8, help="sequences per step")
    parser.add_argument("--seq", type=int, default=256, help="tokens per training sequence")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens generated per sequence")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]

    import torch
    from transformers import AutoModelForCausalLM

    from toolfeedback.threads import auto_threads, available_cores
    from toolfeedback.tiny_model import build_tiny_model

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model = AutoModelForCausalLM.from_pretrained(build_tiny_model(os.path.join(tmp, "m"), size=args.size))
    vocab = model.config.vocab_size
    batch = torch.randint(0, vocab, (args.batch, args.seq))
    prompts = torch.randint(0, vocab, (args.batch, 64))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def train_step() -> None:
        model.train()
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optim.step()
        optim.zero_grad()

    def generate() -> None:
        model.eval()
        with torch.no_grad():
            model.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=False,
                           max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                           pad_token_id=0)

    times: dict[tuple[str, int], list[float]] = {}
    for work in (train_step, generate):  # warm up
        work()
    for _ in range(args.repeat):
        for n in counts:
            torch.set_num_threads(n)
            for work in (train_step, generate):
                start = time.perf_counter()
                work()
                times.setdefault((work.__name__, n), []).append(time.perf_counter() - start)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores={available_cores()} auto_threads={auto_threads()} load_1min={load:.2f} "
          f"size={args.size} batch={args.batch} seq={args.seq}")
    for (name, n), values in sorted(times.items()):
        print(f"{name:<10} threads={n:<3} median_s={statistics.median(values):.3f} "
              f"min_s={min(values):.3f}")
    if 1 in counts and 2 in counts:
        one = sum(statistics.median(times[(w, 1)]) for w in ("train_step", "generate"))
        two = sum(statistics.median(times[(w, 2)]) for w in ("train_step", "generate"))
        print(f"two_vs_one_thread_ratio={two / one:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
