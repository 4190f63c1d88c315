"""An example third-party toolfeedback plugin: one reward (duck-typed: it has every member of
``toolfeedback.contracts.Reward``) and one CLI verb (subclassing ``Command`` for its defaults)."""

import toolfeedback
from toolfeedback.contracts import Command


class HitCount:
    """Reward = number of calls that hit an unsolved answer."""

    name = "example_hits"

    def score(self, outcome):
        return float(getattr(outcome, "n_hits", 0))


class Hello(Command):
    name = "hello"
    help = "say hello (from the example plugin)"

    def add_arguments(self, parser):
        parser.add_argument("--who", default="world", help="whom to greet")

    def run(self, args, pm):
        print(f"hello {args.who}")
        return 0


@toolfeedback.hookimpl
def register_rewards(register):
    register(HitCount())


@toolfeedback.hookimpl
def register_commands(register):
    register(Hello())
