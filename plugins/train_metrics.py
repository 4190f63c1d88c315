"""Built-in observer: every training run writes ``OUT/metrics.jsonl``.

One JSON object per trainer log event, ``{"step": N, "loss": 0.12, ...}``,
numbers as JSON numbers (a value that is not finite becomes ``null``, which JSON can hold).
The file is started afresh by ``before_train`` and appended to, one flushed line per log
step, so a killed run keeps every line logged until then. ``--quiet`` does not touch it.
The last line, written by ``after_train``, is ``{"event": "end", "world_size", ...,
"ranks": [...]}``: the launch and what each rank did (:mod:`toolfeedback.train.launch`).
Under ``accelerate launch`` only the main process writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.train.launch import is_main_process, launch_info

FILENAME = "metrics.jsonl"


def as_number(value: Any) -> Any:
    """``value`` as a JSON number where it is one (tensors, numpy scalars, numeric text)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    else:
        try:
            value = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            return str(value)
    if not math.isfinite(value):
        return None
    return value


def metrics_path(job) -> Path:
    """Where ``job``'s metrics go: ``OUT/metrics.jsonl``."""
    return Path(job.out) / FILENAME


def append(job, line: dict) -> None:
    """One line at the end of ``job``'s metrics file."""
    with open(metrics_path(job), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


@hookimpl
def before_train(job):
    if is_main_process():
        metrics_path(job).write_text("", encoding="utf-8")


@hookimpl
def on_train_log(step, logs, job):
    if job is None or not is_main_process():
        return
    append(job, {"step": int(step), **{str(k): as_number(v) for k, v in logs.items()}})


@hookimpl
def after_train(job, checkpoint):
    if is_main_process():
        append(job, {"event": "end", **launch_info(), "ranks": list(job.ranks)})
