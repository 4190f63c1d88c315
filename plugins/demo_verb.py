"""``toolfeedback demo``: build, SFT warm start, GRPO and before/after evaluation, offline on the CPU."""

from __future__ import annotations

from toolfeedback import hookimpl
from toolfeedback.contracts import Command


class DemoCommand(Command):
    """The method in miniature on a tiny local model that measurably learns."""

    name = "demo"
    help = "run the method in miniature on a tiny local model: build, SFT, GRPO, evaluate (offline, CPU)"
    description = (
        "Build verified single-hop and parallel single-hop environments (train and test splits), "
        "play their golden calls through the rollout loop, build the tiny model (its tokenizer "
        "trained on the environment text), evaluate it on the test split, warm-start it with SFT "
        "on the golden train trajectories, evaluate, train GRPO on the train step samples with "
        "the Solve-F1 reward, evaluate again, and write report.md (tables, PNG plots) and "
        "summary.json (test_solve_f1: base, sft, rl in percent). The defaults are one recipe, "
        "the same for every seed.")

    def add_arguments(self, parser):
        from toolfeedback.cli_flags import add_config_flags
        from toolfeedback.plugins.demo import DemoConfig

        parser.add_argument("--out", default="toolfeedback-demo",
                            help="folder for every file the demo writes (default: %(default)s)")
        add_config_flags(parser, DemoConfig)

    def run(self, args, pm) -> int:
        import attrs

        from toolfeedback.cli_flags import overrides_from_args
        from toolfeedback.plugins.demo import DemoConfig, demo

        given = {k: v for k, v in overrides_from_args(args, DemoConfig).items() if v is not None}
        config = attrs.evolve(DemoConfig(), **given)
        summary = demo(args.out, config.check(), pm=pm)
        total = sum(summary["seconds"].values())
        f1 = summary["test_solve_f1"]
        print(f"test Solve-F1: untrained {f1['base']:.2f}, SFT {f1['sft']:.2f}, SFT + GRPO {f1['rl']:.2f}")
        print(f"done in {total:.0f} s; report -> {summary['out']}/report.md, "
              f"summary -> {summary['out']}/summary.json")
        return 0


@hookimpl
def register_commands(register):
    register(DemoCommand())
