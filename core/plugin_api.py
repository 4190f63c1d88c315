"""The declared public surface: the core modules a plugin may import.

Plugins (built-in, contrib and third-party alike) import only these modules, and only
their names without a leading underscore. Everything else in the core is private and may
change without notice; a test (tests/test_layout.py) fails when a plugin module imports a
private core module or another plugin's entry-point module (shared helpers belong in the
core, behind one of these modules).
"""

from __future__ import annotations

#: module -> what a plugin author finds there
PUBLIC_MODULES: dict[str, str] = {
    "toolfeedback": "hookimpl, hookspec, create_plugin_manager",
    "toolfeedback.api": "the Python API: one function per CLI verb",
    "toolfeedback.types": "domain types: Scenario, ToolSpec, Environment, ToolCall, ToolResult, ...",
    "toolfeedback.errors": "exceptions the CLI reports as one located line",
    "toolfeedback.checks": "attrs validators for config and Options classes",
    "toolfeedback.config": "TOML loading of config classes",
    "toolfeedback.convert": "the one cattrs converter",
    "toolfeedback.plugin_options": "plugin Options: resolution, the role tables, option flags",
    "toolfeedback.cli_flags": "CLI flags generated from a config class (for a plugin's own verb)",
    "toolfeedback.jsonl": "JSONL reading and resumable writing",
    "toolfeedback.atomic": "outputs written to a staging file or folder, renamed in on success",
    "toolfeedback.pysource": "thread-safe ast parsing of tool code",
    "toolfeedback.ftrl": "the FTRL release format",
    "toolfeedback.generation": "ChatRequest, Completion, SamplingParams, load_backend",
    "toolfeedback.progress": "the progress-bar rule",
    "toolfeedback.threads": "the torch CPU-thread rule",
    "toolfeedback.shards": "ShardTask, ShardResult, run_task (for runners)",
    "toolfeedback.toolhop": "the one ToolHop row -> environment converter",
    "toolfeedback.registry": "Catalog: registered objects by category and name",
    "toolfeedback.manager": "the plugin manager factory and plugin listing",
    "toolfeedback.testing": "fixtures and checks for plugin tests",
    "toolfeedback.contracts": "the base classes registered objects subclass",
    "toolfeedback.tiny_model": "the offline tiny model for tests",
    "toolfeedback.runtime.executor": "make_executor, Executor, the in-process baseline",
    "toolfeedback.runtime.executor_interface": "the Executor interface, error_text",
    "toolfeedback.runtime.sandbox": "Sandbox(...): the tool sandbox of the chosen isolation",
    "toolfeedback.runtime.sandbox_limits": "kernel_ready, resolve_isolation (what the kernel enforces)",
    "toolfeedback.runtime.sandbox_strict": "StrictSandbox (its jail report, for `doctor`)",
    "toolfeedback.runtime.matching": "answer matching, FTRL output serialization",
    "toolfeedback.runtime.step": "run_step, StepOutcome, ParsedMessage, make_reward",
    "toolfeedback.runtime.scoring": "score / score_file",
    "toolfeedback.build.construction": "StageContext, Rejected, drafts, STAGES",
    "toolfeedback.build.pipeline": "BuildConfig, build, verify",
    "toolfeedback.build.verification": "golden replay of an environment",
    "toolfeedback.build.sharded": "sharded_build (build as shards of a runner)",
    "toolfeedback.rollout.engine": "RolloutEngine, Episode",
    "toolfeedback.rollout.collect": "RolloutConfig, rollout",
    "toolfeedback.rollout.io": "trajectory and step-sample writers",
    "toolfeedback.rollout.sharded": "ShardConfig, sharded_rollout",
    "toolfeedback.train.config": "TrainConfig",
    "toolfeedback.train.job": "TrainJob, prepare_job, train",
    "toolfeedback.train.data": "datasets and the step reward for TRL trainers",
    "toolfeedback.train.save": "save_trained",
    "toolfeedback.train.launch": "is_main_process and the other rules under accelerate launch",
    "toolfeedback.train.iterate": "IterateConfig, iterate",
    "toolfeedback.evaluate.driver": "EvalConfig, evaluate, benchmark helpers",
    "toolfeedback.evaluate.analysis": "layer / module change analysis",
    "toolfeedback.evaluate.sharded": "sharded_evaluate (a benchmark as shards of a runner)",
}


def is_public(module: str) -> bool:
    """Whether a plugin may import ``module``."""
    return module in PUBLIC_MODULES
