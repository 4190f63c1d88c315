"""Rollout files: trajectory records, step samples, and resuming after a kill.

Per finished episode the step samples are written first, then the trajectory line; both
writers flush per line. On restart, a torn last line is dropped (:func:`repair_tail`),
the finished episodes are read back from the trajectory file (key: environment id and
sample index), step samples of episodes that have no trajectory line (killed in between)
are removed, and only the missing episodes run. So a kill at any moment loses at most
the episodes in flight, and never duplicates or truncates a line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError
from ..jsonl import JsonlReader, JsonlWriter, repair_tail
from ..types import Environment, Trajectory


def trajectory_record(traj: Trajectory) -> dict[str, Any]:
    """One trajectory as a JSON object (messages, steps with calls/hits/rewards, metrics)."""
    return {
        "env_id": traj.env_id,
        "sample": traj.sample,
        "mode": traj.mode,
        "model": traj.model,
        "finished": traj.finished,
        "metrics": traj.metrics.as_dict(),
        "reward": sum(s.reward for s in traj.steps),
        "steps": [{
            "index": s.index,
            "response": s.response,
            "content": s.content,
            "reasoning": s.reasoning,
            "calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in s.calls],
            "results": [{"content": r.content, "ok": r.ok, "error": r.error} for r in s.results],
            "hits": list(s.hits),
            "reward": s.reward,
            "unsolved_before": {k: list(v) for k, v in s.unsolved_before.items()},
            "solve_rate_before": s.solve_rate_before,
        } for s in traj.steps],
        "messages": list(traj.messages),
        "metadata": traj.metadata,
    }


def _sample_index(value: Any, field: str, path: Path, lineno: int) -> int:
    # bool is an int to Python, not a sample index to anyone
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError("expected a non-negative integer (the sample index); refusing to "
                         "resume into this file", path=str(path), line=lineno, field=field)
    return value


def _done_keys(path: Path) -> set[tuple[str, int]]:
    done: set[tuple[str, int]] = set()
    if not path.exists():
        return done
    for lineno, obj in JsonlReader(path):
        if not isinstance(obj, dict) or not isinstance(obj.get("env_id"), str):
            raise InputError("not a trajectory record (no env_id); refusing to append to it",
                             path=str(path), line=lineno)
        done.add((obj["env_id"], _sample_index(obj.get("sample", 0), "$.sample", path, lineno)))
    return done


def _sample_key(obj: Any, path: Path, lineno: int) -> tuple[str, int] | None:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    info = meta.get("rollout") if isinstance(meta, dict) else None
    if not isinstance(info, dict):
        return None
    return info.get("env_id"), _sample_index(info.get("sample", 0), "$.metadata.rollout.sample",
                                             path, lineno)


def _prune_samples(path: Path, done: set[tuple[str, int]]) -> int:
    """Rewrite ``path`` keeping only samples of finished episodes (atomic replace). A line
    that is not UTF-8 or has a bad sample index stops the run (located), before anything
    is changed; a line that is not JSON is a torn write and is dropped."""
    from ..atomic import atomic_file
    from ..jsonl import decode_line

    if not path.exists():
        return 0
    repair_tail(path)
    kept: list[int] = []
    dropped = 0
    with open(path, "rb") as src:  # first pass: validate, decide; nothing written yet
        for lineno, raw in enumerate(src, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); refusing "
                                 f"to resume into this file", path=str(path), line=lineno) from None
            if not line.strip():
                continue
            try:
                key = _sample_key(decode_line(line, path=str(path), line=lineno), path, lineno)
            except InputError as exc:
                if not exc.detail.startswith("invalid JSON"):
                    raise
                key = None
            if key in done:
                kept.append(lineno)
            else:
                dropped += 1
    if dropped:
        keep = set(kept)
        with open(path, "rb") as src, atomic_file(path, "wb") as dst:
            for lineno, raw in enumerate(src, start=1):
                if lineno in keep:
                    dst.write(raw)
    return dropped


class RolloutOutputs:
    """The trajectory writer and the optional step-sample writer, resume-aware."""

    def __init__(self, out: str, samples_out: str | None, *, resume: bool = True):
        from ..ftrl import to_record

        self._to_record = to_record
        self.out = Path(out)
        self.samples_path = Path(samples_out) if samples_out else None
        from ..atomic import check_output_file

        for path in (self.out, self.samples_path):  # before any model loads
            if path is not None:
                check_output_file(path)
        # files this run creates: removed again if it fails before writing a line
        self._new = [p for p in (self.out, self.samples_path) if p is not None and not p.exists()]
        if resume:
            repair_tail(self.out)
            self.done = _done_keys(self.out)
            if self.samples_path is not None:
                _prune_samples(self.samples_path, self.done)
        else:
            self.done = set()
        self._mode = "a" if resume else "w"
        # opened at the first episode: a run that fails before it (bad model path, backend or
        # option) leaves a --no-resume target untouched and creates no empty file
        self.samples: JsonlWriter | None = None
        self.trajectories: JsonlWriter | None = None

    def _open(self) -> None:
        # in place, flushed per line (not staged): a killed run is resumed from these files
        if self.samples_path is not None:
            self.samples = JsonlWriter(self.samples_path, self._mode, keep_existing=False)
        self.trajectories = JsonlWriter(self.out, self._mode, keep_existing=False)

    def write(self, traj: Trajectory, samples: list[Environment]) -> None:
        """Samples first, then the trajectory line that marks the episode finished."""
        if self.trajectories is None:
            self._open()
        if self.samples is not None:
            for sample in samples:
                self.samples.write(self._to_record(sample))
        self.trajectories.write(trajectory_record(traj))
        self.done.add((traj.env_id, traj.sample))

    def close(self, failed: bool = False) -> None:
        """Flush and close both files. A run that wrote nothing: when it failed, nothing is
        created or truncated; when it succeeded, the files exist (``--no-resume``: emptied)."""
        from ..atomic import remove_if_new_and_empty

        if self.trajectories is None and not failed:
            self._open()
        if self.samples is not None:
            self.samples.close()
        if self.trajectories is not None:
            self.trajectories.close()
        if failed:
            for path in self._new:
                remove_if_new_and_empty(path, existed=False)


def read_todo(path: str, done: set[tuple[str, int]], *, n_samples: int = 1,
              limit: int | None = None, on_error: str = "stop", split: str | None = None
              ) -> tuple[Iterator[tuple[Environment, int]], JsonlReader, int]:
    """``(episodes to run, reader, total)``: every (environment, sample) of ``path`` not in
    ``done`` (of environments of ``split`` only, when given; ``limit`` counts those). A first pass validates the whole file, so a bad line stops the run before any
    model is loaded (``on_error="stop"``) or is counted and skipped; duplicate ids are an
    error. The episodes are then streamed in a second pass (the file is never held whole)."""
    from ..ftrl import from_record

    reader = JsonlReader(path, from_record, on_error=on_error)
    keep: set[int] = set()
    seen: dict[str, int] = {}
    total = 0
    for lineno, env in reader:
        if limit is not None and len(keep) >= limit:
            break
        if env.id in seen:
            error = InputError(f"duplicate environment id {env.id!r} (first on line {seen[env.id]})",
                               path=path, line=lineno, field="$.id")
            if on_error == "stop":
                raise error
            reader.skipped += 1
            reader.errors.append(error)
            continue
        seen[env.id] = lineno
        if split is not None and env.split != split:
            continue
        keep.add(lineno)
        total += sum(1 for k in range(n_samples) if (env.id, k) not in done)

    def episodes() -> Iterator[tuple[Environment, int]]:
        for lineno, env in JsonlReader(path, from_record, on_error="skip"):
            if lineno in keep:
                for k in range(n_samples):
                    if (env.id, k) not in done:
                        yield env, k

    return episodes(), reader, total
