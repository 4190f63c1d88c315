"""A rollout split into shards, each an ordinary :func:`~toolfeedback.rollout.collect.rollout`
run by a runner (``local`` processes, or Ray tasks across machines), then merged.

Layout beside ``--out OUT``: ``OUT.shards/envs-<i>.jsonl`` (shard ``i``'s environments:
every ``shards``-th valid environment of ``--envs`` (of ``--split``, up to ``--limit``), by
position, so the division is the same on every run), ``traj-<i>.jsonl`` and ``samples-<i>.jsonl`` (shard ``i``'s own resumable
outputs). The driver then appends to ``OUT`` (and ``--samples-out``) every episode of the
shard files that ``OUT`` does not hold yet, keyed by (environment id, sample): samples
first, then the trajectory line, as a plain rollout writes them.

What a kill costs: a shard whose process dies is retried by the runner and resumes from
its own files (it loses the episodes in flight, nothing written); a driver killed at any
moment is re-run with the same command: ``OUT`` is repaired as on any resume, shards
re-run only what their files lack, and the merge skips what ``OUT`` holds. Nothing is
lost and nothing is written twice. Across machines, ``OUT``'s folder must be on a file
system every node sees (the shards write there).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs

from ..errors import InputError, ToolfeedbackError
from ..shards import ShardConfig  # noqa: F401 - re-exported: its home was here
from .collect import RolloutConfig, check_envs

SHARD_FN = "toolfeedback.rollout.sharded:run_shard"


def shard_dir(config: RolloutConfig) -> Path:
    """``OUT.shards/`` beside the trajectory file."""
    out = Path(config.out).resolve()
    return out.with_name(out.name + ".shards")


def run_shard(config: dict) -> dict:
    """Run one shard (on a worker): an ordinary resumable rollout of its own files."""
    from ..config import config_from_dict

    return rollout_summary(config_from_dict(RolloutConfig, config))


def rollout_summary(config: RolloutConfig) -> dict:
    """:func:`rollout` with a plugin manager of this process's installed plugins."""
    from ..manager import create_plugin_manager
    from .collect import rollout

    return rollout(config, pm=create_plugin_manager())


def _split(config: RolloutConfig, shards: int, done: set) -> list[int]:
    """Write each shard's environments file (atomically); return the shards with work left."""
    from ..ftrl import to_record
    from ..jsonl import JsonlWriter
    from .io import read_todo

    folder = shard_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    writers = [JsonlWriter(folder / f"envs-{i}.jsonl", "w", keep_existing=True) for i in range(shards)]
    busy: set[int] = set()
    try:
        episodes, _, _ = read_todo(config.envs, set(), n_samples=1, limit=config.limit,
                                   on_error=config.on_error, split=config.split)
        for position, (env, _) in enumerate(episodes):
            if all((env.id, k) in done for k in range(config.n_samples)):
                continue
            writers[position % shards].write(to_record(env))
            busy.add(position % shards)
    finally:
        for writer in writers:
            writer.close()
    return sorted(busy)


def _shard_config(config: RolloutConfig, shards: ShardConfig, i: int) -> dict:
    from ..config import config_to_dict

    folder = shard_dir(config)
    options = dict(config.backend_options)
    model = Path(config.model)
    model = str(model.resolve()) if model.is_dir() else config.model  # workers' cwd may differ
    if shards.base_urls:
        options["base_url"] = shards.base_urls[i % len(shards.base_urls)]
    one = attrs.evolve(config, model=model, envs=str(folder / f"envs-{i}.jsonl"), out=str(folder / f"traj-{i}.jsonl"),
                       samples_out=str(folder / f"samples-{i}.jsonl") if config.samples_out else None,
                       backend_options=options, limit=None, split=None, resume=True, progress=False)
    return config_to_dict(one)


def _key(obj: Any) -> tuple[str, int] | None:
    if isinstance(obj, dict) and isinstance(obj.get("env_id"), str):
        return obj["env_id"], int(obj.get("sample", 0))
    return None


def _sample_key(obj: Any) -> tuple[str, int] | None:
    info = (obj.get("metadata") or {}).get("rollout") if isinstance(obj, dict) else None
    return (info.get("env_id"), int(info.get("sample", 0))) if isinstance(info, dict) else None


def _read_lines(path: Path) -> list[Any]:
    from ..jsonl import JsonlReader, repair_tail

    if not path.exists():
        return []
    repair_tail(path)  # a shard that died mid-line and was not re-run
    return [obj for _, obj in JsonlReader(path, on_error="skip")]


def merge_shards(config: RolloutConfig) -> dict[str, int]:
    """Append every episode of the shard files that ``config.out`` lacks; idempotent."""
    from ..jsonl import JsonlWriter
    from .io import RolloutOutputs

    prepared = RolloutOutputs(config.out, config.samples_out, resume=True)  # repair + prune
    done = set(prepared.done)
    prepared.close()
    folder = shard_dir(config)
    trajs = sorted(folder.glob("traj-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))
    added = 0
    out = JsonlWriter(config.out, "a")
    samples_out = JsonlWriter(config.samples_out, "a") if config.samples_out else None
    try:
        for path in trajs:
            by_key: dict[tuple, list] = {}
            if samples_out is not None:
                for obj in _read_lines(path.with_name(path.name.replace("traj-", "samples-"))):
                    by_key.setdefault(_sample_key(obj), []).append(obj)
            for record in _read_lines(path):
                key = _key(record)
                if key is None or key in done:
                    continue
                for sample in by_key.get(key, ()) if samples_out is not None else ():
                    samples_out.write(sample)
                out.write(record)
                done.add(key)
                added += 1
    finally:
        if samples_out is not None:
            samples_out.close()
        out.close()
    return {"merged": added, "episodes_in_out": len(done)}


def sharded_rollout(config: RolloutConfig, shards: ShardConfig, *, pm=None) -> dict[str, Any]:
    """Split ``config.envs`` into shards, run them with the runner, merge into ``config.out``.

    Returns the summary: episodes merged, per-shard summaries (or errors) and totals. A
    shard that failed after the runner's retries is an error, raised after merging
    everything the other shards (and it) wrote.
    """
    from ..manager import create_plugin_manager
    from ..shards import ShardTask, get_runner
    from .io import RolloutOutputs, read_todo

    config.validate()
    shards.validate()
    pm = pm or create_plugin_manager()
    runner = get_runner(pm, shards.runner)
    _, first_pass = check_envs(config)
    if not config.resume:  # start over: the shards' own files go too
        for old in shard_dir(config).glob("*.jsonl"):
            old.unlink()
    prepared = RolloutOutputs(config.out, config.samples_out, resume=config.resume)
    done = set(prepared.done)
    prepared.close()
    started = time.perf_counter()
    busy = _split(config, shards.shards, done)
    tasks = [ShardTask(i, SHARD_FN, {"config": _shard_config(config, shards, i)}) for i in busy]
    results = runner.run(tasks, parallel=shards.parallel, options=dict(shards.runner_options)) if tasks else []
    merged = merge_shards(config)
    failed = [r for r in results if not r.ok]
    summary = {"episodes": merged["merged"], "already_done": len(done),
               "episodes_in_out": merged["episodes_in_out"], "skipped_lines": first_pass.skipped,
               "errors": [str(e) for e in first_pass.errors], "runner": runner.name,
               "shards": [{"shard": busy[n], "host": r.host, "error": r.error,
                           **({k: r.value.get(k) for k in ("episodes", "already_done", "tokens",
                                                            "seconds", "tokens_per_s")}
                              if r.ok and isinstance(r.value, dict) else {})}
                          for n, r in enumerate(results)],
               "seconds": time.perf_counter() - started}
    summary["tokens"] = sum(s.get("tokens") or 0 for s in summary["shards"])
    if failed:
        first = failed[0]
        raise ToolfeedbackError(f"rollout: {len(failed)} of {len(results)} shard(s) failed "
                                f"(shard {busy[results.index(first)]}: {first.error}); "
                                f"{merged['merged']} episode(s) merged into {config.out}; "
                                f"run the same command again to resume")
    return summary

