"""``toolfeedback score``: score model responses in FTRL step records with a reward."""

from __future__ import annotations

import json
import sys

from toolfeedback import hookimpl
from toolfeedback.contracts import Command


class ScoreCommand(Command):
    """Run each record's response in the sandbox and write its reward and breakdown."""

    name = "score"
    help = "score responses in FTRL step records with a verifiable reward"
    description = (
        "Each input line is an FTRL step record (tools, codes, unsolved_set, solve_rate,\n"
        "answer, ...) plus a 'response' string. Tool calls run in the sandbox; each output\n"
        "line, in input order, holds 'score', the input 'line' and the breakdown\n"
        "(calls, results, hits, remaining answers).\n\n"
        "example:\n  toolfeedback score --input steps.jsonl --reward solve_f1 --out scores.jsonl\n"
        "  toolfeedback score --input steps.jsonl --reward solve_f1:1.0,format:0.2 --out s.jsonl\n"
        "  toolfeedback score --input think_steps.jsonl --mode think --out s.jsonl")

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, metavar="FILE",
                            help="JSONL of FTRL step records, each with a 'response'")
        parser.add_argument("--out", required=True, metavar="FILE",
                            help="JSONL to write, one line per scored record (overwritten)")
        parser.add_argument("--reward", default="solve_f1", metavar="NAME",
                            help="reward name (solve_f1, solve_precision, solve_rate, solve_pr, "
                                 "format) or weighted composition 'solve_f1:1.0,format:0.2' "
                                 "(default: solve_f1)")
        parser.add_argument("--format", default="hermes", dest="tool_format", metavar="NAME",
                            help="tool-call format of the responses: hermes, llama3, openai "
                                 "(default: hermes)")
        parser.add_argument("--mode", default="no-think", metavar="NAME",
                            help="inference mode the responses were generated in: no-think, "
                                 "think, think-prompted; its reasoning is split off before calls "
                                 "are parsed, as in rollout and training (default: no-think)")
        parser.add_argument("--tool-timeout", type=float, default=10.0, metavar="S",
                            help="wall-clock limit per tool call in seconds (default: 10)")
        parser.add_argument("--workers", type=int, default=2, metavar="N",
                            help="sandbox worker processes; records are scored concurrently, "
                                 "one per worker, and written in input order (default: 2)")
        parser.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                            help="stop at the first bad line (default) or report it and "
                                 "score the rest")
        parser.add_argument("--quiet", action="store_true",
                            help="no progress bar and no summary on stderr")

    def run(self, args, pm) -> int:
        from toolfeedback.errors import ConfigError
        from toolfeedback.runtime.scoring import score_file

        if args.workers < 1:
            raise ConfigError("--workers must be at least 1")
        summary = score_file(args.input, args.out, reward=args.reward, tool_format=args.tool_format,
                             mode=args.mode, on_error=args.on_error, tool_timeout=args.tool_timeout,
                             workers=args.workers, pm=pm, progress=not args.quiet)
        if not args.quiet:
            for error in summary["errors"]:
                print(f"skipped: {error}", file=sys.stderr)
            print(json.dumps({k: v for k, v in summary.items() if k != "errors"}), file=sys.stderr)
        return 0


@hookimpl
def register_commands(register):
    register(ScoreCommand())
