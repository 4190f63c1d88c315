"""``lm_eval`` evaluator: general capability through lm-evaluation-harness, offline.

Runs ``lm_eval.simple_evaluate`` with the ``hf`` model type on a local model directory.
Tasks are named as in lm-eval (``gsm8k``, ``mmlu``, ``bbh``, ... work when their datasets
are in the local Hugging Face cache) plus our own small local tasks, shipped with the
package and read from local JSON files: ``tf_arith`` (20 arithmetic word problems,
GSM8K-style, generate-until + exact match) and ``tf_mc`` (20 four-choice questions,
MMLU-style, log-likelihood accuracy). ``HF_DATASETS_OFFLINE`` and ``HF_HUB_OFFLINE`` are
set for the run, so nothing is downloaded; a task whose data is not cached fails with a
clear error instead.

Example::

    toolfeedback eval --evaluator lm_eval --model ./ckpt --evaluator-option tasks=tf_arith,tf_mc
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from attrs import field, frozen

from toolfeedback import hookimpl
from toolfeedback.checks import non_negative
from toolfeedback.contracts import Evaluator

LOCAL_TASKS = ("tf_arith", "tf_mc")
_OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def task_dir() -> Path:
    """The packaged folder holding our local task YAML and JSONL files."""
    return Path(str(resources.files("toolfeedback.contrib") / "data" / "lm_eval_tasks"))


@contextmanager
def local_tasks() -> Iterator[Path]:
    """A temporary include dir with our task YAMLs pointing at the packaged data (absolute paths)."""
    src = task_dir()
    tmp = Path(tempfile.mkdtemp(prefix="tf-lmeval-"))
    try:
        for yaml_file in src.glob("*.yaml"):
            text = yaml_file.read_text(encoding="utf-8").replace("@DATA_DIR@", str(src))
            (tmp / yaml_file.name).write_text(text, encoding="utf-8")
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def offline_env() -> Iterator[None]:
    """Set the Hugging Face offline switches for the duration of a run."""
    saved = {k: os.environ.get(k) for k in _OFFLINE}
    os.environ.update(_OFFLINE)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_lm_eval(model_dir: str, tasks: list[str], *, num_fewshot: int | None = None,
                limit: int | None = None, batch_size: int = 8, device: str | None = None,
                apply_chat_template: bool = False) -> dict[str, Any]:
    """Evaluate ``model_dir`` on ``tasks`` offline; returns ``{task: {metric: value}}`` + config."""
    from toolfeedback.errors import ConfigError, ToolfeedbackError

    model_args: dict[str, Any] = {"pretrained": str(model_dir), "local_files_only": True}
    adapter = Path(model_dir, "adapter_config.json")
    if not Path(model_dir, "config.json").exists() and adapter.exists():
        # a LoRA checkpoint of `toolfeedback train --adapter lora`: its base model plus the adapter
        import json

        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path") or ""
        if not Path(base, "config.json").exists():
            raise ConfigError(f"model {model_dir!r}: a LoRA adapter whose base model {base!r} is not "
                              f"a local model directory here (run from where it was trained, or "
                              f"train with --adapter-option merge=true and evaluate {model_dir}/merged)")
        model_args.update(pretrained=base, peft=str(model_dir))
    elif not Path(model_dir, "config.json").exists():
        raise ConfigError(f"model {model_dir!r}: not a model directory (no config.json)")
    if not tasks:
        raise ConfigError(f"lm_eval needs tasks (--evaluator-option tasks=A,B; local ones: {', '.join(LOCAL_TASKS)})")
    with offline_env(), local_tasks() as include:
        import lm_eval
        from lm_eval.tasks import TaskManager

        manager = TaskManager(include_path=str(include))
        unknown = [t for t in tasks if t not in manager.all_tasks]
        if unknown:
            raise ConfigError(f"unknown lm_eval task(s): {', '.join(unknown)} "
                              f"(local: {', '.join(LOCAL_TASKS)}; see `lm_eval ls tasks`)")
        try:
            results = lm_eval.simple_evaluate(
                model="hf", model_args=model_args,
                tasks=list(tasks), num_fewshot=num_fewshot, batch_size=batch_size,
                device=device or "cpu", limit=limit, task_manager=manager, log_samples=False,
                apply_chat_template=apply_chat_template, bootstrap_iters=0)
        except (ConnectionError, OSError) as exc:
            raise ToolfeedbackError(f"lm_eval could not load a task's data offline ({exc}); "
                                    f"cache it first or use a local task") from None
    if results is None:  # non-zero rank under accelerate
        return {}
    out = {}
    for task, metrics in results["results"].items():
        out[task] = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "alias"}
    return {"results": out, "n_samples": results.get("n-samples", {}),
            "versions": {k: v for k, v in results.get("versions", {}).items()}}


@frozen
class LmEvalOptions:
    """Options of ``lm_eval`` (``[eval.evaluator]`` with ``name = "lm_eval"``, ``--evaluator-option``)."""

    tasks: tuple[str, ...] = field(default=(), metadata={
        "help": "task names (our local ones: tf_arith, tf_mc); cached hub tasks work offline too"})
    num_fewshot: int | None = field(default=None, validator=non_negative(), metadata={
        "help": "few-shot examples (default: the task's)"})


class LmEvalEvaluator(Evaluator):
    """``toolfeedback eval --evaluator lm_eval --model DIR --evaluator-option tasks=tf_arith,tf_mc``."""

    name = "lm_eval"
    Options = LmEvalOptions

    def evaluate(self, config, pm) -> dict[str, Any]:
        """General capability of ``config.model`` on the ``tasks`` option."""
        from toolfeedback.evaluate.driver import evaluator_options, require_model

        options = evaluator_options(config, self)
        return run_lm_eval(require_model(config), list(options.tasks), num_fewshot=options.num_fewshot,
                           limit=config.limit or None, batch_size=config.batch_size,
                           device=config.device)


@hookimpl
def register_evaluators(register):
    register(LmEvalEvaluator())
