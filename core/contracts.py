"""The base classes registered objects subclass, one per catalog category (declared here once).

hatchling's ``BuilderInterface`` style: required members are abstract, optional ones have
defaults, so the core calls them without ``hasattr`` and never branches on a plugin's
``name``: it asks a capability (``mode.native_thinking``, ``stage.needs_generator``) or
calls a defaulted method (``source.check(config)``). Any object may declare a frozen attrs
``Options`` class (see :mod:`toolfeedback.plugin_options`).

An object that does not subclass its base must have the required members (the registrar
refuses it, naming what is missing); it is adopted (:func:`adopt`): its own members
answer first, the base class's defaults fill in the rest. :func:`signature_problems`
(used by ``tf_check_plugin``) compares methods' signatures with the base class.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any, ClassVar, Iterator


class Registered(abc.ABC):
    """What every registered object has: a ``name`` users select it by, optional ``Options``."""

    #: the catalog category (``"rewards"``); hook ``register_<category>``
    category: ClassVar[str] = ""
    name: str = ""
    #: a frozen attrs class of this object's own options, or ``None`` for none
    Options: ClassVar[type | None] = None


class Command(Registered):
    """A CLI verb: ``toolfeedback <name> ...``. Example::

        class Hello(Command):
            name, help = "hello", "say hello"
            def add_arguments(self, parser): parser.add_argument("--who", default="world")
            def run(self, args, pm): print("hello", args.who); return 0
    """

    category = "commands"
    help: str = ""
    #: the verb's ``--help`` text (default: ``help``)
    description: str | None = None

    @abc.abstractmethod
    def add_arguments(self, parser) -> None:
        """Add this verb's flags to its sub-parser (:mod:`toolfeedback.cli_flags` for config classes)."""

    @abc.abstractmethod
    def run(self, args, pm) -> int:
        """Do the work; return the exit status. Raise ToolfeedbackError for user errors."""


class Source(Registered):
    """Yields scenarios (to be built) or ready environments for ``toolfeedback build``.

    Example: ``class Mine(Source): name = "mine"; def scenarios(self, config, ctx): yield Scenario(...)``.
    """

    category = "sources"
    #: the stage implementation used when ``--stages`` is not given
    default_stages: str = "procedural"

    @abc.abstractmethod
    def scenarios(self, config, ctx) -> Iterator[Any]:
        """Yield :class:`~toolfeedback.types.Scenario` (or ``Environment``) objects lazily;
        ``ctx`` is the :class:`~toolfeedback.build.construction.StageContext` the stages get."""

    def check(self, config) -> None:
        """Refuse a config this source cannot use, before the output file is opened."""

    def expected_count(self, config) -> int | None:
        """How many items :meth:`scenarios` will yield, if known (for the progress bar)."""
        return None


class Stage(Registered):
    """One construction stage (``stage``: decompose, document, integrate, scale or deploy)
    under a ``name`` such as ``procedural`` or ``llm``.

    ``run(item, ctx)`` takes the previous stage's output and returns the next one; the
    ``deploy`` stage returns an :class:`~toolfeedback.types.Environment`. Raise
    :class:`~toolfeedback.build.construction.Rejected` to drop the item with a reason.
    """

    category = "stages"
    stage: str = ""
    #: the stage prompts a generator model (``ctx.generator``, made from the build config)
    needs_generator: bool = False

    @abc.abstractmethod
    def run(self, item, ctx) -> Any:
        """Transform one item; raise ``Rejected(reason)`` to drop it. ``ctx.options[stage]``
        holds this stage's ``Options`` instance."""


class Reward(Registered):
    """Scores one assistant response at one step from what the tools returned.

    Example: ``class Hits(Reward): name = "hits"; def score(self, outcome): return float(outcome.n_hits)``.
    """

    category = "rewards"

    @abc.abstractmethod
    def score(self, outcome) -> float:
        """The reward of one step outcome (see :mod:`toolfeedback.runtime.step`)."""


class ToolFormat(Registered):
    """Parses raw model text into content and tool calls, and renders calls back."""

    category = "tool_formats"
    #: responses carry structured ``tool_calls`` (OpenAI messages), not calls in the text
    structured: bool = False

    @abc.abstractmethod
    def parse(self, text: str) -> Any:
        """Split ``text`` into a :class:`~toolfeedback.runtime.step.ParsedMessage`."""

    @abc.abstractmethod
    def render(self, content, calls=()) -> str:
        """The text (or JSON message) a model of this format writes for ``content`` and ``calls``."""


class Mode(Registered):
    """An inference mode (``think`` / ``no-think``): prompt rendering and reasoning split."""

    category = "modes"
    default_max_new_tokens: int = 1024
    #: the model reasons before answering (its reasoning is split off before parsing)
    thinking: bool = False
    #: the reasoning is switched on by the chat template (``enable_thinking``), so a
    #: template without that switch cannot render this mode
    native_thinking: bool = False

    def template_kwargs(self) -> dict:
        """Chat-template keyword arguments for every turn (e.g. ``enable_thinking``)."""
        return {}

    def prepare_messages(self, messages: list) -> list:
        """The messages as sent to the model (e.g. an added instruction); never mutates."""
        return list(messages)

    def split(self, text: str, reasoning: str | None = None) -> tuple:
        """``(reasoning or None, content)``; tool calls are parsed from the content only."""
        return reasoning, text

    def history_message(self, message: dict, reasoning: str | None) -> dict:
        """The assistant message as kept in the chat for later turns."""
        return message


class Backend(Registered):
    """A generation backend (``hf``, ``openai``, ``vllm``): a factory of generators.

    ``load`` receives exactly the fields of ``Options`` (see
    :func:`toolfeedback.generation.load_backend`).
    """

    category = "backends"

    @abc.abstractmethod
    def load(self, model: str, **options) -> Any:
        """Return a :class:`~toolfeedback.generation.Generator` for ``model``."""


class Algorithm(Registered):
    """Trains a model on step samples: ``train(job)`` gets a
    :class:`~toolfeedback.train.job.TrainJob` (``job.algorithm_options`` holds its
    ``Options``) and returns the directory it saved into."""

    category = "algorithms"
    #: what it learns from: ``"steps"`` (step samples) or ``"trajectories"`` (whole
    #: episodes, e.g. SFT); ``toolfeedback iterate`` hands it that data
    data_kind: str = "steps"

    @abc.abstractmethod
    def train(self, job) -> Any:
        """Train on ``job.samples`` and save into ``job.out``; return the saved path."""


class Adapter(Registered):
    """Decides which parameters train (``full``, ``lora``)."""

    category = "adapters"
    #: ``train --model`` given a LoRA checkpoint goes on training that adapter (``lora``);
    #: otherwise the adapter is merged into its base first
    continues_adapter = False

    @abc.abstractmethod
    def peft_config(self, model, options) -> Any:
        """The peft config to wrap ``model`` with (``options``: this adapter's ``Options``
        instance, or ``None``), or ``None`` to train every weight."""

    def merge_on_save(self, options) -> bool:
        """Also save the adapter merged into the base model (``OUT/merged``)."""
        return False


class Evaluator(Registered):
    """Scores a model or a trajectory file and returns a report dict; its ``Options`` come
    from :func:`toolfeedback.evaluate.driver.evaluator_options`."""

    category = "evaluators"

    @abc.abstractmethod
    def evaluate(self, config, pm) -> dict:
        """Run on :class:`~toolfeedback.evaluate.driver.EvalConfig` ``config``; return a JSON-able report."""


class Runner(Registered):
    """Runs shard tasks (:mod:`toolfeedback.shards`): ``local`` processes, contrib ``ray``.

    Example::

        class ThreadRunner(Runner):
            name = "threads"
            def run(self, tasks, *, parallel=None, options=None):
                return [run_task(t) for t in tasks]
    """

    category = "runners"

    @abc.abstractmethod
    def run(self, tasks, *, parallel=None, options=None) -> list:
        """Run every task (at most ``parallel`` at once); one result per task, in order."""


#: category -> base class; the one declaration of the catalog categories (each has the
#: hook ``register_<category>`` in :mod:`toolfeedback.hookspecs`)
BASES: dict[str, type[Registered]] = {cls.category: cls for cls in (
    Source, Stage, Reward, Algorithm, Mode, Backend, ToolFormat, Adapter, Evaluator, Command,
    Runner)}


def hook_name(category: str) -> str:
    """The catalog hook of ``category``."""
    return f"register_{category}"


def members(base: type) -> list[str]:
    """Public members of ``base`` (an implementation's own or the default)."""
    skip = set(dir(Registered)) - {"name"}
    return sorted(n for n in dir(base) if not n.startswith("_") and n not in skip)


#: data attributes an object must have itself (no sensible default)
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {"commands": ("help",), "stages": ("stage",)}


def required_members(category: str) -> list[str]:
    """What an object of ``category`` must have: ``name``, the abstract methods, and
    :data:`REQUIRED_ATTRIBUTES`."""
    base = BASES[category]
    return sorted({"name", *base.__abstractmethods__, *REQUIRED_ATTRIBUTES.get(category, ())})


def missing_members(category: str, impl: Any) -> list[str]:
    """Required members ``impl`` lacks (none for a subclass of the category's base class)."""
    if isinstance(impl, BASES[category]):
        return []
    return [m for m in required_members(category) if not hasattr(impl, m)]


def adopt(category: str, impl: Any) -> Any:
    """``impl`` itself when it subclasses its base class; otherwise a stand-in that answers
    with ``impl``'s own members first and the base class's defaults for the rest, so the
    core calls every member without probing (a duck-typed plugin keeps working)."""
    base = BASES[category]
    if isinstance(impl, base):
        return impl
    return _adopter(base)(impl)


_ADOPTERS: dict[type, type] = {}


def _adopter(base: type) -> type:
    if base not in _ADOPTERS:
        def __init__(self, impl):  # noqa: N807
            object.__setattr__(self, "_adopted", impl)

        def __getattribute__(self, name):  # noqa: N807 - the plugin's own member wins
            impl = object.__getattribute__(self, "_adopted")
            if name == "_adopted":
                return impl
            try:
                return getattr(impl, name)
            except AttributeError:
                return object.__getattribute__(self, name)

        def __setattr__(self, name, value):  # noqa: N807
            setattr(object.__getattribute__(self, "_adopted"), name, value)

        def __repr__(self):  # noqa: N807
            return repr(object.__getattribute__(self, "_adopted"))

        body = {m: (lambda self, *a, **k: None) for m in base.__abstractmethods__}
        body.update(__init__=__init__, __getattribute__=__getattribute__, __setattr__=__setattr__,
                    __repr__=__repr__, __doc__=f"A duck-typed object adopted as a {base.__name__}.")
        cls = type(f"Adopted{base.__name__}", (base,), body)
        cls.__abstractmethods__ = frozenset()
        _ADOPTERS[base] = cls
    return _ADOPTERS[base]


def signature_problems(category: str, impl: Any) -> list[str]:
    """Methods of ``impl`` whose parameters do not match the base class's."""
    base = BASES[category]
    problems = []
    for member in members(base):
        expected = getattr(base, member)
        if not callable(expected) or isinstance(expected, type):
            continue
        actual = getattr(impl, member, None)
        if actual is None or not callable(actual):
            continue
        want = _params(inspect.signature(expected))
        try:
            got = _params(inspect.signature(actual))
        except (TypeError, ValueError):
            continue
        if not _compatible(want, got):
            problems.append(f"{member}{_show(got)} does not match {base.__name__}.{member}{_show(want)}")
    return problems


def _params(sig: inspect.Signature) -> list[inspect.Parameter]:
    return [p for p in sig.parameters.values() if p.name != "self"]


def _compatible(want: list[inspect.Parameter], got: list[inspect.Parameter]) -> bool:
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    w_pos = [p for p in want if p.kind in positional]
    g_pos = [p for p in got if p.kind in positional]
    g_star = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in got)
    g_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in got)
    if len(g_pos) < len(w_pos) and not g_star:
        return False  # called with more arguments than it takes
    if any(p.default is inspect.Parameter.empty for p in g_pos[len(w_pos):]):
        return False  # needs an argument the host never passes
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in want) and not g_kw:
        return False
    return True


def _show(params: list[inspect.Parameter]) -> str:
    return "(" + ", ".join(str(p) for p in params) + ")"


def contract_problems(catalog: Any) -> list[str]:
    """Lines naming registered objects whose methods do not match their base class."""
    problems = []
    for category in BASES:
        for name, impl in catalog.items(category):
            problems += [f"{category}: {name!r}: {p}" for p in signature_problems(category, impl)]
    return problems
