"""``toolfeedback iterate``: collect -> train -> evaluate, repeated with the trained model."""

from __future__ import annotations

import json

from toolfeedback import hookimpl
from toolfeedback.contracts import Command

EPILOG = """\
Each iteration K writes OUT/iter-K/{rollout,samples,ckpt,eval}; OUT/iter-0/eval scores the
starting model. Re-run the same command after a kill: finished stages are skipped and a
half-written rollout resumes. Per-iteration figures: OUT/iterations.jsonl; the whole run:
OUT/summary.json. Stage settings come from [iterate.rollout], [iterate.train] and
[iterate.eval] of --config, or --rollout-option / --train-option / --eval-option KEY=VALUE
(VALUE is JSON or text). Examples:

  toolfeedback iterate --model tiny --envs envs.jsonl --out runs/it --iterations 2 \\
      --train-option max_steps=2 --train-option num_generations=4 --rollout-option max_turns=4
  toolfeedback iterate --config configs/iterate.toml --model sft-ckpt --envs envs.jsonl --out runs/it
"""

#: shortcuts into [iterate.train]
TRAIN_FLAGS = (("--algorithm", "algorithm", "NAME"), ("--adapter", "adapter", "NAME"))


class IterateCommand(Command):
    """Run the iterated feedback loop of the paper (see :mod:`toolfeedback.train.iterate`)."""

    name = "iterate"
    help = "collect with the model -> train on it -> evaluate on the held-out split, N times (resumable)"
    description = help + "\n\n" + EPILOG

    def add_arguments(self, parser) -> None:
        from toolfeedback.cli_flags import add_config_flags
        from toolfeedback.train.iterate import IterateConfig

        add_config_flags(parser, IterateConfig, section="iterate")
        for flag, key, metavar in TRAIN_FLAGS:
            parser.add_argument(flag, dest=f"train_{key}", metavar=metavar, default=None,
                                help=f"[iterate.train] {key} (default: the train verb's)")

    def run(self, args, pm) -> int:
        from toolfeedback.cli_flags import overrides_from_args
        from toolfeedback.train.iterate import IterateConfig, iterate

        overrides = overrides_from_args(args, IterateConfig)
        train = dict(overrides.get("train") or {})
        for _, key, _ in TRAIN_FLAGS:
            if getattr(args, f"train_{key}") is not None:
                train[key] = getattr(args, f"train_{key}")
        overrides["train"] = train or None
        config = IterateConfig.load(args.config, overrides)
        summary = iterate(config, pm)
        print(json.dumps(summary, indent=2))
        return 0


@hookimpl
def register_commands(register):
    register(IterateCommand())
