"""``toolfeedback demo``: build, roll out, evaluate, train and analyze, offline on the CPU."""

from __future__ import annotations

from toolfeedback import hookimpl


class DemoCommand:
    """The whole FTRL loop on a tiny local model in about a minute."""

    name = "demo"
    help = "run the whole method end to end on a tiny local model (offline, CPU, ~1 minute)"
    description = (
        "Build verified procedural environments, build the tiny model, roll it out in the "
        "sandbox, evaluate Solve-P/R/F1, train GRPO for a few steps on the step samples, and "
        "analyze which layers and modules changed. The tiny model has random weights, so the "
        "scores are near zero: the demo shows the pipeline and the files each stage writes.")

    def add_arguments(self, parser):
        parser.add_argument("--out", default="toolfeedback-demo",
                            help="folder for every file the demo writes (default: %(default)s)")
        parser.add_argument("--n", type=int, default=16, help="environments to build (default: %(default)s)")
        parser.add_argument("--seed", type=int, default=0, help="seed for the world and the model")
        parser.add_argument("--mode", default="no-think", choices=["no-think", "think"],
                            help="inference mode of the rollouts (default: %(default)s)")
        parser.add_argument("--train-steps", type=int, default=2,
                            help="GRPO optimizer steps (default: %(default)s)")

    def run(self, args, pm) -> int:
        from toolfeedback.plugins.demo import demo

        if args.n < 1 or args.train_steps < 1:
            from toolfeedback.errors import ConfigError

            raise ConfigError("--n and --train-steps must be at least 1")
        summary = demo(args.out, n=args.n, seed=args.seed, mode=args.mode,
                       train_steps=args.train_steps, pm=pm)
        total = sum(summary["seconds"].values())
        print(f"done in {total:.0f} s; summary -> {summary['out']}/summary.json")
        return 0


@hookimpl
def register_commands(register):
    register(DemoCommand())
