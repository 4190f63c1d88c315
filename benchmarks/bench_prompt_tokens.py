"""Average prompt tokens of default-scaled procedural environments under the tiny model's
tokenizer, without and with the shipped environment corpus (``core/data/tokenizer_corpus.txt``).

    python benchmarks/bench_prompt_tokens.py                 # measure
    python benchmarks/bench_prompt_tokens.py --write-corpus  # regenerate the corpus, then measure

The corpus comes from a build with other seeds than the measured one, so the figure is
on environments the tokenizer never saw. Last line: ``prompt_tokens_ratio=<with/without>``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def mean_prompt_tokens(model: Path, envs: Path) -> float:
    from transformers import AutoTokenizer

    from toolfeedback.ftrl import read_environments

    tok = AutoTokenizer.from_pretrained(str(model))
    lengths = []
    for _, env in read_environments(envs):
        text = tok.apply_chat_template(list(env.messages), tools=[t.to_openai() for t in env.tools],
                                       tokenize=False, add_generation_prompt=True, enable_thinking=False)
        lengths.append(len(tok(text, add_special_tokens=False)["input_ids"]))
    return sum(lengths) / len(lengths)


def write_corpus(tmp: Path, n: int) -> None:
    from toolfeedback.build.pipeline import BuildConfig, build
    from toolfeedback.rollout.collect import RolloutConfig, rollout
    from toolfeedback.tiny_model import CORPUS_FILE, environment_texts

    lines: list[str] = []
    for seed in (101, 102):  # measured below: seed 0
        envs, traj = tmp / f"corpus{seed}.jsonl", tmp / f"corpus{seed}-traj.jsonl"
        build(BuildConfig(n=n, seed=seed, out=str(envs)))
        rollout(RolloutConfig(model=str(envs), envs=str(envs), out=str(traj), backend="golden",
                              resume=False, progress=False))
        lines += environment_texts(envs, traj)
    CORPUS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CORPUS_FILE.write_text("\n".join(dict.fromkeys(lines)) + "\n", encoding="utf-8")
    print(f"wrote {CORPUS_FILE} ({CORPUS_FILE.stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="environments measured (and per corpus seed)")
    parser.add_argument("--write-corpus", action="store_true", help="regenerate the corpus first")
    args = parser.parse_args()
    from toolfeedback.build.pipeline import BuildConfig, build
    from toolfeedback.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.write_corpus:
            write_corpus(tmp, args.n)
        envs = tmp / "measured.jsonl"
        build(BuildConfig(n=args.n, seed=0, out=str(envs)))
        before = mean_prompt_tokens(build_tiny_model(tmp / "plain", corpus_file=False), envs)
        after = mean_prompt_tokens(build_tiny_model(tmp / "corpus"), envs)
    print(f"mean prompt tokens, default-scaled environments (n={args.n}): "
          f"without corpus {before:.1f}, with corpus {after:.1f}")
    print(f"prompt_tokens_ratio={after / before:.3f}")


if __name__ == "__main__":
    main()
