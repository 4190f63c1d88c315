"""An example third-party algorithm with its own option: GRPO with a chosen clip range.

Its options come from ``[train.algorithm]`` (``name = "example_clipped"``, ``clip = 0.3``)
and ``--algorithm-option clip=0.3``. It reuses the built-in ``grpo`` through the catalog
(never by importing another plugin's module), so it trains for real with TRL.
"""

import json

import attrs
from attrs import field, frozen

import toolfeedback
from toolfeedback.checks import positive
from toolfeedback.contracts import Algorithm
from toolfeedback.registry import Catalog


@frozen
class ClippedOptions:
    """Options of ``example_clipped``."""

    clip: float = field(default=0.2, validator=positive(), metadata={"help": "PPO clip range"})
    note: str = field(default="", metadata={"help": "free text, saved next to the checkpoint"})


class ClippedGrpo(Algorithm):
    """GRPO whose PPO clip range is this plugin's own ``clip`` option."""

    name = "example_clipped"
    Options = ClippedOptions

    def train(self, job):
        """Train with the built-in grpo, its ``epsilon`` set from ``clip``."""
        grpo = Catalog(job.pm).get("algorithms", "grpo")
        mine = job.algorithm_options
        job = attrs.evolve(job, algorithm_options=grpo.Options(epsilon=mine.clip))
        out = grpo.train(job)
        (job.out / "example_options.json").write_text(json.dumps(attrs.asdict(mine)))
        return out


@toolfeedback.hookimpl
def register_algorithms(register):
    register(ClippedGrpo())
