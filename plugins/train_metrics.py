"""Built-in observer: every training run writes ``OUT/metrics.jsonl``.

One JSON object per trainer log event, ``{"step": N, "loss": 0.12, ...}``, numbers as JSON
numbers (a value that is not finite becomes ``null``, which JSON can hold). The file is
started afresh by ``before_train`` and appended to, one flushed line per log step, so a
killed run keeps every line logged until then. ``--quiet`` does not touch it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl

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


@hookimpl
def before_train(job):
    metrics_path(job).write_text("", encoding="utf-8")


@hookimpl
def on_train_log(step, logs, job):
    if job is None:
        return
    line = {"step": int(step), **{str(k): as_number(v) for k, v in logs.items()}}
    with open(metrics_path(job), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")
