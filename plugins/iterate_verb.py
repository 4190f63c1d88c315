"""``toolfeedback iterate``: collect -> train -> evaluate, repeated with the trained model."""

from __future__ import annotations

import json

from toolfeedback import hookimpl

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

#: flag -> (config field, type, metavar)
FLAGS = (("--model", "model", str, "DIR"), ("--envs", "envs", str, "FILE"), ("--out", "out", str, "DIR"),
         ("--iterations", "iterations", int, "N"), ("--mode", "mode", str, "NAME"),
         ("--tool-format", "tool_format", str, "NAME"), ("--train-split", "train_split", str, "NAME"),
         ("--eval-split", "eval_split", str, "NAME"), ("--min-solve-f1", "min_solve_f1", float, "F"),
         ("--threads", "threads", int, "N"))
#: shortcuts into [iterate.train]
TRAIN_FLAGS = (("--algorithm", "algorithm", str, "NAME"), ("--adapter", "adapter", str, "NAME"))
TABLES = ("rollout", "train", "eval")


def parse_options(items: list[str], flag: str) -> dict:
    """``KEY=VALUE`` strings as a dict; VALUE parsed as JSON when it is JSON."""
    from toolfeedback.errors import ConfigError

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
    return options


class IterateCommand:
    """Run the iterated feedback loop of the paper (see :mod:`toolfeedback.train.iterate`)."""

    name = "iterate"
    help = "collect with the model -> train on it -> evaluate on the held-out split, N times (resumable)"
    description = help + "\n\n" + EPILOG

    def add_arguments(self, parser) -> None:
        from toolfeedback.config import field_help
        from toolfeedback.train.iterate import IterateConfig

        helps = field_help(IterateConfig)
        parser.add_argument("--config", metavar="FILE", help="TOML file with an [iterate] section")
        for flag, key, kind, metavar in FLAGS:
            parser.add_argument(flag, dest=key, type=kind, metavar=metavar, default=None, help=helps[key])
        for flag, key, kind, metavar in TRAIN_FLAGS:
            parser.add_argument(flag, dest=f"train_{key}", type=kind, metavar=metavar, default=None,
                                help=f"[iterate.train] {key} (default: the train verb's)")
        for table in TABLES:
            parser.add_argument(f"--{table}-option", dest=f"{table}_options", action="append",
                                metavar="KEY=VALUE", default=[], help=helps[table] + "; repeatable")
        parser.add_argument("--no-eval-start", dest="eval_start", action="store_false", default=None,
                            help="do not evaluate the starting model (iter-0/eval)")
        parser.add_argument("--quiet", action="store_true", default=None, help=helps["quiet"])

    def run(self, args, pm) -> int:
        from toolfeedback.train.iterate import IterateConfig, iterate

        overrides = {key: getattr(args, key) for _, key, _, _ in FLAGS}
        overrides.update(eval_start=args.eval_start, quiet=args.quiet)
        for table in TABLES:
            values = parse_options(getattr(args, f"{table}_options"), f"--{table}-option")
            if table == "train":
                for _, key, _, _ in TRAIN_FLAGS:
                    if getattr(args, f"train_{key}") is not None:
                        values[key] = getattr(args, f"train_{key}")
            overrides[table] = values or None
        config = IterateConfig.load(args.config, overrides)
        summary = iterate(config, pm)
        print(json.dumps(summary, indent=2))
        return 0


@hookimpl
def register_commands(register):
    register(IterateCommand())
