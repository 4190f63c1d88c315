"""``toolfeedback tiny-model`` and ``toolfeedback rollout``."""

from __future__ import annotations

import json
import sys

from toolfeedback import hookimpl
from toolfeedback.contracts import Command


class TinyModelCommand(Command):
    """Build the offline tiny model (see :mod:`toolfeedback.tiny_model`)."""

    name = "tiny-model"
    help = "build a tiny random-init Qwen3-architecture model with a local tokenizer (offline)"

    def add_arguments(self, parser):
        parser.add_argument("out_dir", metavar="OUT_DIR", help="directory to write the model into")
        parser.add_argument("--seed", type=int, default=0,
                            help="seed of the tokenizer corpus and the weights (default 0)")
        parser.add_argument("--size", choices=("tiny", "small", "0.5b"), default="tiny",
                            help="tiny: hidden 64, 2 layers, vocab ~2k; small: hidden 128, "
                                 "4 layers, vocab ~4k; 0.5b: Qwen2.5-0.5B's layer shape "
                                 "(hidden 896, 24 layers), for benchmarks (default tiny)")

    def run(self, args, pm) -> int:
        from toolfeedback.tiny_model import build_tiny_model

        print(build_tiny_model(args.out_dir, seed=args.seed, size=args.size))
        return 0


class RolloutCommand(Command):
    """Run a model in environments and write trajectories (and step samples)."""

    name = "rollout"
    help = "run a model in environments, batched turn by turn; write trajectories and step samples"
    description = (
        "Run every environment of --envs to its end (a response without a tool call, or\n"
        "--max-turns), all active episodes batched per turn, tools in the sandbox. Writes one\n"
        "trajectory per line to --out and, with --samples-out, FTRL-format step samples.\n"
        "Re-running with the same --out resumes: finished episodes are kept, the rest run.")

    def add_arguments(self, parser):
        from toolfeedback.cli_flags import add_config_flags
        from toolfeedback.rollout.collect import RolloutConfig

        add_config_flags(parser, RolloutConfig, section="rollout")
        # sharding is not part of the [rollout] table: flags of this verb only
        add = parser.add_argument
        add("--runner", help="run the rollout as shards with this runner: local (processes here) "
                             "or ray (Ray tasks; pip install 'toolfeedback[ray]'); see docs/scaling.md")
        add("--shards", type=int, help="split the environments into N shards (default: 1, or one "
                                       "per --base-url)")
        add("--parallel", type=int, help="shards running at once (default: all)")
        add("--ray-address", help="Ray cluster to join (auto, ray://head:10001; default: start a "
                                  "local Ray)")
        add("--base-url", action="append", default=[], metavar="URL",
            help="OpenAI-compatible server, repeatable: shard i uses the (i mod n)-th")
        add("--runner-option", action="append", metavar="KEY=VALUE", default=[],
            help="runner option, repeatable (ray: num_cpus=1, num_gpus=0, max_retries=2)")

    def run(self, args, pm) -> int:
        from toolfeedback.cli_flags import load_from_args
        from toolfeedback.errors import ConfigError
        from toolfeedback.rollout.collect import RolloutConfig, rollout

        shards = shard_config(args)  # one --base-url and no shards: a backend option
        for required in ("model", "envs", "out"):
            if getattr(args, required) is None and not args.config:
                raise ConfigError(f"--{required} is required (or give it in --config)")
        config = load_from_args(RolloutConfig, args, section="rollout", pm=pm)
        if shards is None:
            summary = rollout(config, pm=pm)
        else:
            from toolfeedback.rollout.sharded import sharded_rollout

            summary = sharded_rollout(config, shards, pm=pm)
        if args.progress is None:  # no --quiet
            for error in summary["errors"]:
                print(f"skipped: {error}", file=sys.stderr)
            print(json.dumps(summary, indent=2))
        return 0


def key_values(items, flag: str) -> dict:
    """``KEY=VALUE`` flags as a dict; VALUE is parsed as JSON, else kept as text."""
    from toolfeedback.plugin_options import parse_option_items

    return parse_option_items(items, flag)


def shard_config(args):
    """The :class:`~toolfeedback.rollout.sharded.ShardConfig` the flags ask for, or ``None``
    for a plain one-process rollout (no runner, one shard, at most one server)."""
    from toolfeedback.rollout.sharded import ShardConfig

    urls = tuple(args.base_url)
    if args.runner is None and args.shards in (None, 1) and len(urls) < 2:
        if urls:
            args.backend_options.append(f"base_url={urls[0]}")
        return None
    options = key_values(args.runner_option, "--runner-option")
    if args.ray_address:
        options["address"] = args.ray_address
    return ShardConfig(runner=args.runner or "local", shards=args.shards or max(1, len(urls)),
                       parallel=args.parallel, base_urls=urls, runner_options=options)


@hookimpl
def register_commands(register):
    register(TinyModelCommand())
    register(RolloutCommand())
