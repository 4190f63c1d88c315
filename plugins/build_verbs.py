"""``toolfeedback build`` and ``toolfeedback verify``."""

from __future__ import annotations

import json

from toolfeedback import hookimpl
from toolfeedback.contracts import Command

BUILD_EPILOG = """\
examples:
  toolfeedback build --n 10000 --seed 7 --out envs.jsonl
  toolfeedback build --n 500 --patterns multi-hop,parallel-multi-hop --max-hops 3 --scale distractors:4
  toolfeedback build --source jsonl --input questions.jsonl --model qwen --base-url http://127.0.0.1:8000/v1
  toolfeedback build --n 100000 --seed 7 --out envs.jsonl --runner ray --shards 64
"""


class BuildCommand(Command):
    """Build verified environments and stream them to a JSONL file."""

    name = "build"
    help = "build verified tool-use environments (FTRL format) from a source"
    description = ("Build tool-use environments: decompose -> document -> integrate -> scale -> deploy, "
                   "then verify each by replaying its golden calls; only verified ones are written.\n\n"
                   + BUILD_EPILOG)

    def add_arguments(self, parser):
        from toolfeedback.build.pipeline import BuildConfig
        from toolfeedback.cli_flags import add_config_flags

        add_config_flags(parser, BuildConfig, section="build")
        parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        from toolfeedback.shards import add_runner_arguments

        add_runner_arguments(parser)

    def run(self, args, pm) -> int:
        from toolfeedback.build.pipeline import BuildConfig, build
        from toolfeedback.cli_flags import load_from_args

        config = load_from_args(BuildConfig, args, section="build", pm=pm)
        from toolfeedback.shards import shard_config_from_args

        shards = shard_config_from_args(args)
        if shards is None:
            summary = build(config, pm, quiet=args.quiet)
        else:
            from toolfeedback.build.sharded import sharded_build

            summary = sharded_build(config, shards, pm=pm)
        if args.json:
            print(json.dumps(summary.as_dict(), indent=2))
        elif not args.quiet:
            print("\n".join(summary.lines()))
        return 0


class VerifyCommand(Command):
    """Replay golden calls (or check schemas and code) of every environment in a file."""

    name = "verify"
    help = "check environments: replay golden calls, or check schemas and code of released data"
    description = ("Check every environment of a JSONL file (FTRL format). With golden calls, replay them "
                   "in the executor: every expected answer must be solved and the final answer must follow. "
                   "Without them (released data): check schemas, that each tool's code compiles and defines "
                   "that tool. Exit status 1 when any record fails.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL file of environments")
        parser.add_argument("--executor", default="auto", choices=("auto", "sandbox", "inprocess"),
                            help="where tool code runs (default: the sandbox when available)")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds per tool call (default 10)")
        parser.add_argument("--show", type=int, default=20, metavar="N",
                            help="print at most N failures (default 20)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def run(self, args, pm) -> int:
        from toolfeedback.build.pipeline import verify

        report = verify(args.file, pm, timeout=args.timeout, quiet=args.quiet,
                        executor_kind=args.executor)
        if report.total == 0:  # nothing checked is not a pass
            from toolfeedback.errors import InputError

            raise InputError("no environments in the file (empty)", path=args.file)
        if args.json:
            print(json.dumps({"total": report.total, "passed": report.passed, "failed": report.failed,
                              "replayed": report.replayed,
                              "failures": [{"line": l, "id": i, "reason": r}
                                           for l, i, r in report.failures]}, indent=2))
        else:
            for line, env_id, reason in report.failures[: args.show]:
                print(f"{args.file}:{line}: {env_id or '-'}: {reason}")
            if report.failed > args.show:
                print(f"... and {report.failed - args.show} more failures")
            print(f"checked {report.total}: {report.passed} passed, {report.failed} failed "
                  f"({report.replayed} with golden replay)")
        return 0 if report.ok else 1


@hookimpl
def register_commands(register):
    register(BuildCommand())
    register(VerifyCommand())
