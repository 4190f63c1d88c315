"""Shared pieces of the training tests: the tiny model (built once per session), the FTRL
fixture samples, hand-written responses with known rewards, and observer plugins."""

from __future__ import annotations

import json
from pathlib import Path


from toolfeedback import hookimpl

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ftrl" / "sample.jsonl"

CALL = '<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'


def call(name: str, **args) -> str:
    """A hermes tool call as the model would write it."""
    return CALL.format(name=name, args=json.dumps(args))


#: For each fixture sample (by position): a response that solves something with its
#: solve_f1 reward, and one that does not (reward 0).
GOOD = [
    (call("get_capital", country="France"), 1.0),
    (call("get_population", city="Paris"), 1.0),
    (call("get_capital", country="France") + "\n" + call("get_capital", country="Japan"), 4 / 3),
]
BAD = ("I am not sure.", 0.0)


def fixture_samples():
    """The fixture's step samples as environments, in file order."""
    from toolfeedback.ftrl import read_environments

    return [env for _, env in read_environments(FIXTURE)]


class LogObserver:
    """Records every ``on_train_log`` call."""

    def __init__(self):
        self.calls: list[tuple[int, dict]] = []

    @hookimpl
    def on_train_log(self, step, logs):
        self.calls.append((step, dict(logs)))


class ContentLength:
    """A reward with spread on a random model: characters of content / 100."""

    name = "content_length"

    def score(self, outcome):
        return len(outcome.content or "") / 100.0


class ProbeRewards:
    """Plugin registering :class:`ContentLength`."""

    @hookimpl
    def register_rewards(self, register):
        register(ContentLength())


def small_config(model, out, **changes):
    """A TrainConfig sized for 2 CPU steps on the tiny model."""
    from toolfeedback.train.job import TrainConfig

    values = dict(model=str(model), data=str(FIXTURE), out=str(out), max_steps=2,
                  num_generations=4, per_device_batch_size=4, max_new_tokens=12, lr=1e-3,
                  seed=0, quiet=True)
    values.update(changes)
    return TrainConfig(**values)
