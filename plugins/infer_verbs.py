"""``toolfeedback tiny-model`` and ``toolfeedback rollout``."""

from __future__ import annotations

import json
import sys

from toolfeedback import hookimpl


class TinyModelCommand:
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


class RolloutCommand:
    """Run a model in environments and write trajectories (and step samples)."""

    name = "rollout"
    help = "run a model in environments, batched turn by turn; write trajectories and step samples"
    description = (
        "Run every environment of --envs to its end (a response without a tool call, or\n"
        "--max-turns), all active episodes batched per turn, tools in the sandbox. Writes one\n"
        "trajectory per line to --out and, with --samples-out, FTRL-format step samples.\n"
        "Re-running with the same --out resumes: finished episodes are kept, the rest run.")

    def add_arguments(self, parser):
        add = parser.add_argument
        add("--config", help="TOML file with a [rollout] table (flags override it)")
        add("--model", help="model directory (hf) or served model name (openai)")
        add("--envs", help="environments JSONL in FTRL format")
        add("--out", help="trajectories JSONL (appended on resume)")
        add("--samples-out", help="also write FTRL-format step samples (training prompts) here")
        add("--mode", help="inference mode: no-think (default), think, think-prompted")
        add("--backend", help="generation backend: hf (default), openai, vllm")
        add("--backend-option", action="append", metavar="KEY=VALUE", default=[],
            help="backend option, repeatable (hf: device=cpu, dtype=bfloat16; "
                 "openai: base_url=http://host:8000/v1, api_key=...); VALUE is JSON or text")
        add("--tool-format", help="tool-call format of the model's text (default hermes)")
        add("--reward", help="step reward, e.g. solve_f1 (default) or 'solve_f1:1,format:0.2'")
        add("--batch-size", type=int, help="episodes generated together per turn (default 32)")
        add("--max-turns", type=int, help="assistant turns per episode at most (default 20)")
        add("--max-new-tokens", type=int,
            help="token budget per response (default 1024 no-think, 8192 think)")
        add("--temperature", type=float, help="sampling temperature, 0 = greedy (default 0)")
        add("--top-p", type=float, help="nucleus sampling mass (default 1.0)")
        add("--n-samples", type=int, help="episodes per environment (default 1; >1 needs temperature > 0)")
        add("--seed", type=int, help="sampling seed (default 0)")
        add("--limit", type=int, help="use only the first N environments")
        add("--split", metavar="NAME", default=None,
            help="run only environments of this split: train or test (default: every environment)")
        add("--threads", type=int, metavar="N",
            help="torch CPU threads (default 0: automatic, half the cores)")
        add("--on-error", choices=("stop", "skip"), default=None,
            help="invalid environment lines: stop at the first (default) or skip them, "
                 "reporting how many")
        add("--workers", type=int, help="sandbox worker processes (default 2)")
        add("--tool-timeout", type=float, help="seconds per tool call (default 10)")
        add("--no-resume", action="store_true", help="overwrite --out instead of resuming it")
        add("--quiet", action="store_true", help="no progress bar, no summary")
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
        from toolfeedback.config import load_config
        from toolfeedback.errors import ConfigError
        from toolfeedback.rollout.collect import RolloutConfig, rollout

        shards = shard_config(args)  # one --base-url and no shards: a backend option
        options = key_values(args.backend_option, "--backend-option")
        overrides = {
            "model": args.model, "envs": args.envs, "out": args.out, "samples_out": args.samples_out,
            "mode": args.mode, "backend": args.backend, "tool_format": args.tool_format,
            "reward": args.reward, "batch_size": args.batch_size, "max_turns": args.max_turns,
            "max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
            "top_p": args.top_p, "n_samples": args.n_samples, "seed": args.seed, "limit": args.limit,
            "workers": args.workers, "tool_timeout": args.tool_timeout,
            "split": args.split, "threads": args.threads,
            "on_error": args.on_error,
            "resume": False if args.no_resume else None,
            "progress": False if args.quiet else None,
            "backend_options": options or None,
        }
        for required in ("model", "envs", "out"):
            if overrides[required] is None and not args.config:
                raise ConfigError(f"--{required} is required (or give it in --config)")
        config = load_config(RolloutConfig, args.config, section="rollout" if args.config else None,
                             overrides=overrides)
        if shards is None:
            summary = rollout(config, pm=pm)
        else:
            from toolfeedback.rollout.sharded import sharded_rollout

            summary = sharded_rollout(config, shards, pm=pm)
        if not args.quiet:
            for error in summary["errors"]:
                print(f"skipped: {error}", file=sys.stderr)
            print(json.dumps(summary, indent=2))
        return 0


def key_values(items, flag: str) -> dict:
    """``KEY=VALUE`` flags as a dict; VALUE is parsed as JSON, else kept as text."""
    from toolfeedback.errors import ConfigError

    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            found[key] = json.loads(value)
        except json.JSONDecodeError:
            found[key] = value
    return found


def shard_config(args):
    """The :class:`~toolfeedback.rollout.sharded.ShardConfig` the flags ask for, or ``None``
    for a plain one-process rollout (no runner, one shard, at most one server)."""
    from toolfeedback.rollout.sharded import ShardConfig

    urls = tuple(args.base_url)
    if args.runner is None and args.shards in (None, 1) and len(urls) < 2:
        if urls:
            args.backend_option.append(f"base_url={urls[0]}")
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
