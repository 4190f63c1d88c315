"""The small interfaces that registered implementations satisfy.

Every registered object has a ``name`` (how users select it). These are
:class:`typing.Protocol` classes: implement the attributes and methods, no subclassing
needed. Each docstring shows a minimal example.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable, Iterator, Protocol, runtime_checkable


@runtime_checkable
class Command(Protocol):
    """A CLI verb: ``toolfeedback <name> ...``.

    Example::

        class Hello:
            name = "hello"
            help = "say hello"
            def add_arguments(self, parser): parser.add_argument("--who", default="world")
            def run(self, args, pm): print("hello", args.who); return 0
    """

    name: str
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this verb's flags to its sub-parser."""

    def run(self, args: argparse.Namespace, pm: Any) -> int:
        """Do the work; return the exit status. Raise ToolfeedbackError for user errors."""


@runtime_checkable
class Source(Protocol):
    """Yields scenarios (to be built) or ready environments for ``toolfeedback build``.

    Example: ``class Mine: name = "mine"; def scenarios(self, config): yield Scenario(...)``.
    """

    name: str

    def scenarios(self, config: Any) -> Iterator[Any]:
        """Yield :class:`~toolfeedback.types.Scenario` (or ``Environment``) objects lazily."""


@runtime_checkable
class Stage(Protocol):
    """One environment-construction stage (``stage`` is decompose, document, integrate,
    scale or deploy) under a ``name`` such as ``procedural`` or ``llm``.

    ``run(item, ctx)`` takes the previous stage's output (a question for ``decompose``, a
    draft after that; see :mod:`toolfeedback.build.construction`) and returns the next one; the
    ``deploy`` stage returns an :class:`~toolfeedback.types.Environment`. Raise
    :class:`~toolfeedback.build.construction.Rejected` to drop the item with a reason.
    """

    name: str
    stage: str

    def run(self, item: Any, ctx: Any) -> Any:
        """Transform one item; raise ``Rejected(reason)`` to drop it."""


@runtime_checkable
class Reward(Protocol):
    """Scores one assistant response at one step from what the tools returned.

    Example: ``class Hits: name = "hits"; def score(self, outcome): return float(outcome.hits)``.
    """

    name: str

    def score(self, outcome: Any) -> float:
        """The reward of one step outcome (see :mod:`toolfeedback.runtime.step`)."""


@runtime_checkable
class ToolFormat(Protocol):
    """Parses raw model text into content and tool calls, and renders calls back."""

    name: str

    def parse(self, text: str) -> Any:
        """Split ``text`` into a :class:`~toolfeedback.runtime.step.ParsedMessage` (content and parsed
        :class:`~toolfeedback.types.ToolCall` objects, in order)."""

    def render(self, content: str | None, calls: Any = ()) -> str:
        """The text (or JSON message) a model of this format writes for ``content`` and ``calls``."""


@runtime_checkable
class Mode(Protocol):
    """An inference mode (``think`` / ``no-think``): prompt rendering and reasoning split.

    Example (see :mod:`toolfeedback.plugins.modes`)::

        class Terse:
            name = "terse"; default_max_new_tokens = 256
            def template_kwargs(self): return {"enable_thinking": False}
            def prepare_messages(self, messages): return messages
            def split(self, text, reasoning=None): return None, text
            def history_message(self, message, reasoning): return message
    """

    name: str
    default_max_new_tokens: int

    def template_kwargs(self) -> dict:
        """Chat-template keyword arguments for every turn (e.g. ``enable_thinking``)."""

    def prepare_messages(self, messages: list) -> list:
        """The messages as sent to the model (e.g. an added instruction); never mutates."""

    def split(self, text: str, reasoning: str | None = None) -> tuple:
        """``(reasoning or None, content)``; tool calls are parsed from the content only."""

    def history_message(self, message: dict, reasoning: str | None) -> dict:
        """The assistant message as kept in the chat for later turns."""


@runtime_checkable
class Backend(Protocol):
    """A generation backend (``hf``, ``openai``, ``vllm``): a factory of generators.

    Example::

        class Echo:
            name = "echo"
            def load(self, model, **options): return EchoGenerator(model)
    """

    name: str

    def load(self, model: str, **options: Any) -> Any:
        """Return a :class:`~toolfeedback.generation.Generator` for ``model``."""


@runtime_checkable
class Algorithm(Protocol):
    """An RL or preference algorithm that trains a model on step samples.

    ``train(job)`` receives a :class:`~toolfeedback.train.job.TrainJob` (config, samples,
    resolved mode / reward / tool format / adapter, output dir, callbacks that must be
    passed to the trainer) and returns the directory it saved into. An optional
    ``data_kind`` says what it learns from: ``"steps"`` (step samples, the default when
    absent) or ``"trajectories"`` (whole episodes, e.g. SFT); ``toolfeedback iterate``
    hands it that data. Example::

        class Mine:
            name = "mine"
            def train(self, job): ...; return job.out
    """

    name: str

    def train(self, job: Any) -> Any:
        """Train on ``job.samples`` and save into ``job.out``; return the saved path."""


@runtime_checkable
class Adapter(Protocol):
    """Decides which parameters train (``full``, ``lora``).

    ``peft_config(model, config)`` returns a ``peft`` config (or ``None`` for full
    fine-tuning) for the loaded model and the :class:`~toolfeedback.train.job.TrainConfig`.
    """

    name: str

    def peft_config(self, model: Any, config: Any) -> Any:
        """The peft config to wrap ``model`` with, or ``None`` to train every weight."""


@runtime_checkable
class Evaluator(Protocol):
    """Scores a model or a trajectory file and returns a report dict.

    Example::

        class Count:
            name = "count"
            def evaluate(self, config, pm):
                return {"records": sum(1 for _ in open(config.data))}
    """

    name: str

    def evaluate(self, config: Any, pm: Any) -> dict:
        """Run on :class:`~toolfeedback.evaluate.driver.EvalConfig` ``config``; return a JSON-able report."""


PROTOCOLS: dict[str, type] = {
    "sources": Source, "stages": Stage, "rewards": Reward, "algorithms": Algorithm,
    "modes": Mode, "backends": Backend, "tool_formats": ToolFormat, "adapters": Adapter,
    "evaluators": Evaluator, "commands": Command,
}


def iter_protocol_violations(catalog: Any) -> Iterable[str]:
    """Lines naming registered objects that do not satisfy their category's protocol."""
    for category, proto in PROTOCOLS.items():
        for name, impl in catalog.items(category):
            if not isinstance(impl, proto):
                yield f"{category}: {name!r} ({type(impl).__name__}) does not satisfy {proto.__name__}"
