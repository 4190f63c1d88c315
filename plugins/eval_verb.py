"""``toolfeedback eval``: run an evaluator and print / write its report."""

from __future__ import annotations

import json

from toolfeedback import hookimpl
from toolfeedback.contracts import Command

_EXAMPLES = """\
examples:
  toolfeedback eval --evaluator solve --trajectories traj.jsonl --data envs.jsonl
  toolfeedback eval --evaluator solve --model ./ckpt --data envs.jsonl --out report.json
  toolfeedback eval --evaluator toolhop --model ./ckpt --subset mandatory --limit 20
  toolfeedback eval --evaluator bfcl --model ./ckpt --subset simple_python,parallel
  toolfeedback eval --evaluator lm_eval --model ./ckpt --evaluator-option tasks=tf_arith
  toolfeedback eval --evaluator rotbench --model ./ckpt --out report.json --runner ray --shards 8
"""


class EvalCommand(Command):
    """Flags mirror :class:`toolfeedback.evaluate.driver.EvalConfig` (``--config`` reads ``[eval]``)."""

    name = "eval"
    help = "score tool use (solve, toolhop, taubench, rotbench, bfcl) or general capability (lm_eval)"
    description = help + "\n\n" + _EXAMPLES

    def add_arguments(self, parser):
        from toolfeedback.cli_flags import add_config_flags
        from toolfeedback.evaluate.driver import EvalConfig

        add_config_flags(parser, EvalConfig, section="eval")
        from toolfeedback.shards import add_runner_arguments

        add_runner_arguments(parser)

    def run(self, args, pm) -> int:
        from toolfeedback.cli_flags import load_from_args
        from toolfeedback.evaluate.driver import EvalConfig, evaluate

        config = load_from_args(EvalConfig, args, section="eval", pm=pm)
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
