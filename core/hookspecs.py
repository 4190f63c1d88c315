"""Every extension point of toolfeedback, one spec each.

Catalog hooks are named ``register_<things>(register)``. They are called once, when a
:class:`~toolfeedback.registry.Catalog` is first asked for that category; an
implementation calls ``register(impl)`` once per object it provides. ``impl.name`` is the
name users select it by; a second object with the same name in one category is an error
naming both providers. Return values are ignored.

Lifecycle hooks are named ``before_/after_/on_<event>``; they are observers: every
implementation is called, return values are ignored, and an exception propagates (a
plugin that must not stop a run should catch its own errors).

Hooks are always called with keyword arguments. Do not give an implementation's
parameters defaults: pluggy does not pass them.
"""

from __future__ import annotations

from .markers import hookspec

# --------------------------------------------------------------------------- catalogs


@hookspec
def register_sources(register):
    """Register question/environment sources (base class :class:`~toolfeedback.contracts.Source`).

    A source yields scenarios (``procedural``, ``jsonl``) or ready environments (``ftrl``)
    for ``toolfeedback build``. Example: ``register(ProceduralSource())``.
    """


@hookspec
def register_stages(register):
    """Register environment-construction stages (base class :class:`~toolfeedback.contracts.Stage`).

    Each stage object has ``stage`` (one of ``decompose``, ``document``, ``integrate``,
    ``scale``, ``deploy``), ``name`` and ``run(item, ctx)``; names are unique per stage,
    so ``procedural`` and ``llm`` can each provide all five. The pipeline composes one
    implementation per stage, chosen by name, then verifies the result itself (golden
    replay in the sandbox, :mod:`toolfeedback.build.verification`).
    """


@hookspec
def register_rewards(register):
    """Register reward components (base class :class:`~toolfeedback.contracts.Reward`).

    A reward scores one assistant response at one step from what the tools returned:
    ``solve_f1``, ``solve_precision``, ``solve_rate``, ``solve_pr``, ``format``.
    """


@hookspec
def register_algorithms(register):
    """Register RL / preference algorithms (base class :class:`~toolfeedback.contracts.Algorithm`).

    Examples: ``grpo``, ``reinforce_pp``, ``dpo``. An algorithm turns step samples and a
    reward into a trained checkpoint, normally by driving a TRL trainer.
    """


@hookspec
def register_modes(register):
    """Register inference modes (base class :class:`~toolfeedback.contracts.Mode`).

    A mode decides how the prompt is rendered (e.g. ``enable_thinking``) and how the
    reasoning is separated from the answer before tool calls are parsed: ``think``,
    ``no-think``.
    """


@hookspec
def register_backends(register):
    """Register generation backends (base class :class:`~toolfeedback.contracts.Backend`).

    A backend turns a batch of chats (messages + tools) into completions: ``hf``
    (transformers), contrib ``openai`` and ``vllm``.
    """


@hookspec
def register_tool_formats(register):
    """Register tool-call formats (base class :class:`~toolfeedback.contracts.ToolFormat`).

    A format parses a model's raw text into content and tool calls and renders calls back:
    ``hermes`` (Qwen ``<tool_call>``), ``llama3``, ``openai``.
    """


@hookspec
def register_adapters(register):
    """Register model adapters (base class :class:`~toolfeedback.contracts.Adapter`).

    An adapter decides which parameters train: ``full``, ``lora`` (peft).
    """


@hookspec
def register_evaluators(register):
    """Register evaluators (base class :class:`~toolfeedback.contracts.Evaluator`).

    An evaluator scores a model or a trajectory file: ``solve`` (Solve-P/R/F1), benchmark
    adapters (``bfcl``, ``toolhop``, ``taubench``, ``rotbench``), ``lm_eval``.
    """


@hookspec
def register_commands(register):
    """Register CLI verbs (base class :class:`~toolfeedback.contracts.Command`).

    Each command has ``name``, ``help``, ``add_arguments(parser)`` and
    ``run(args, pm) -> int``; it becomes ``toolfeedback <name>``.
    """


@hookspec
def register_runners(register):
    """Register shard runners (base class :class:`~toolfeedback.contracts.Runner`).

    A runner executes independent :class:`~toolfeedback.shards.ShardTask` objects and
    returns one :class:`~toolfeedback.shards.ShardResult` per task, in order: ``local``
    (processes on this machine), contrib ``ray`` (Ray tasks on a cluster). Selected with
    ``toolfeedback rollout --runner NAME``.
    """


# --------------------------------------------------------------------------- lifecycle


@hookspec
def on_environment_built(environment):
    """Called after an environment passed verification, before it is written.

    ``environment`` is the :class:`~toolfeedback.types.Environment`. Observers only.
    """


@hookspec
def on_environment_rejected(scenario_id, stage, reason):
    """Called when an environment is rejected by a stage or by verification.

    ``scenario_id`` names the scenario, ``stage`` the stage that rejected it, ``reason``
    is a one-line explanation. The environment is never written.
    """


@hookspec
def on_trajectory_end(trajectory):
    """Called when a rollout episode ends, before its trajectory is written.

    ``trajectory`` is the :class:`~toolfeedback.types.Trajectory`. Observers only.
    """


@hookspec
def before_train(job):
    """Called once per training run, after every input was checked and the output directory
    created, before the algorithm starts.

    ``job`` is the :class:`~toolfeedback.train.job.TrainJob` (``job.config``, ``job.out``).
    Observers only (the built-in ``train_metrics`` plugin starts ``OUT/metrics.jsonl`` here).
    """


@hookspec
def on_train_log(step, logs, job):
    """Called on every training log event with the global ``step``, a ``logs`` dict
    (loss, reward, kl, learning rate, ...) and the running ``job``. Observers only: wire
    loggers here (an implementation may take only ``step`` and ``logs``).
    """


@hookspec
def after_train(job, checkpoint):
    """Called when a training run saved its checkpoint; ``checkpoint`` is the directory
    (a :class:`pathlib.Path`) the algorithm returned. Observers only.
    """


@hookspec
def on_train_error(job, error):
    """Called when a training run fails (``error`` is the exception, interruptions
    included) before it propagates; ``after_train`` is then not called. Observers only.
    """
