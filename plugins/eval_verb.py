"""``toolfeedback eval``: run an evaluator and print / write its report."""

from __future__ import annotations

import json

from toolfeedback import hookimpl

_EXAMPLES = """\
examples:
  toolfeedback eval --evaluator solve --trajectories traj.jsonl --data envs.jsonl
  toolfeedback eval --evaluator solve --model ./ckpt --data envs.jsonl --out report.json
  toolfeedback eval --evaluator toolhop --model ./ckpt --subset mandatory --limit 20
  toolfeedback eval --evaluator bfcl --model ./ckpt --subset simple_python,parallel
  toolfeedback eval --evaluator lm_eval --model ./ckpt --tasks tf_arith
  toolfeedback eval --evaluator rotbench --model ./ckpt --out report.json --runner ray --shards 8
"""


class EvalCommand:
    """Flags mirror :class:`toolfeedback.evaluate.driver.EvalConfig` (``--config`` reads ``[eval]``)."""

    name = "eval"
    help = "score tool use (solve, toolhop, taubench, rotbench, bfcl) or general capability (lm_eval)"
    description = help + "\n\n" + _EXAMPLES

    def add_arguments(self, parser):
        import attrs

        from toolfeedback.config import field_help
        from toolfeedback.evaluate.driver import EvalConfig

        parser.add_argument("--config", metavar="TOML", help="read settings from the [eval] table of this file")
        helps = field_help(EvalConfig)
        for f in attrs.fields(EvalConfig):
            flag = "--" + f.name.replace("_", "-")
            text = helps[f.name]
            if f.default not in (None, "") and "default" not in text:  # "(default: None)" says nothing
                text = f"{text} (default: {f.default!r})"
            if f.type in (bool, "bool"):
                parser.add_argument(flag, dest=f.name, action="store_true", default=None, help=helps[f.name])
            elif f.name == "tasks":
                parser.add_argument(flag, dest=f.name, default=None, metavar="T1,T2",
                                    help=helps[f.name] + " (comma-separated)")
            else:
                kind = {"int": int, "float": float, "int | None": int}.get(str(f.type), str)
                parser.add_argument(flag, dest=f.name, type=kind, default=None, help=text)
        from toolfeedback.shards import add_runner_arguments

        add_runner_arguments(parser)

    def run(self, args, pm) -> int:
        import attrs

        from toolfeedback.config import load_config
        from toolfeedback.evaluate.driver import EvalConfig, evaluate

        overrides = {f.name: getattr(args, f.name) for f in attrs.fields(EvalConfig)}
        if overrides.get("tasks"):
            overrides["tasks"] = [t for t in overrides["tasks"].split(",") if t]
        config = load_config(EvalConfig, args.config, section="eval" if args.config else None,
                             overrides=overrides)
        from toolfeedback.shards import shard_config_from_args

        shards = shard_config_from_args(args)
        if shards is None:
            report = evaluate(config, pm)
        else:
            from toolfeedback.evaluate.sharded import sharded_evaluate

            report = sharded_evaluate(config, shards, pm=pm)
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0


@hookimpl
def register_commands(register):
    register(EvalCommand())
