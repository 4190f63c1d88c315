"""The files of ``iterate``: atomic JSON/JSONL writes, each iteration's training data cut
from its rollout, and reading back ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ToolfeedbackError


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    from ..atomic import write_text

    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write JSONL atomically (rewritten whole, so a resumed run never duplicates a line)."""
    from ..atomic import atomic_file

    with atomic_file(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def build_samples(kind: str, rollout_dir: Path, where: Path, min_solve_f1: float,
                  solved_steps: bool = True) -> dict[str, Any]:
    """The training data of one iteration, written atomically to ``where``: the step
    samples (without those whose ``solve_rate`` is already 1 unless ``solved_steps``), or
    the trajectories whose Solve-F1 reaches ``min_solve_f1``."""
    from ..jsonl import JsonlReader

    where.mkdir(parents=True, exist_ok=True)
    if kind == "steps":
        source, target = rollout_dir / "steps.jsonl", where / "steps.jsonl"
        keep, hint = None, ""
        if not solved_steps:
            def keep(record) -> bool:
                return float(record.get("solve_rate", 0.0)) < 1.0
            hint = " (every step came after all answers were found; keep solved_steps)"
    else:
        source, target = rollout_dir / "trajectories.jsonl", where / "trajectories.jsonl"
        hint = f" (no episode reached solve_f1 >= {min_solve_f1}; lower min_solve_f1)"

        def keep(record) -> bool:
            return float((record.get("metrics") or {}).get("solve_f1", 0.0)) >= min_solve_f1
    from ..atomic import atomic_file

    seen = kept = 0
    # a bad line, or no qualifying record, leaves no file (and no .tmp)
    with atomic_file(target) as handle:
        for _, record in JsonlReader(source):
            seen += 1
            if keep is None or keep(record):
                kept += 1
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        if not kept:
            raise ToolfeedbackError(f"{target}: no training data: none of the {seen} {kind} of "
                                    f"the rollout qualifies{hint}")
    return {"data": str(target), "kind": kind, "records": kept, "of": seen}


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``metrics.jsonl`` (none when the file is missing)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def mean_of(rows: list[dict[str, Any]], key: str) -> float | None:
    """Mean of the numeric ``key`` values of ``rows`` (None when there is none)."""
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return sum(values) / len(values) if values else None
