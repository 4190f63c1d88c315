"""A build split into shards (``toolfeedback build --runner local|ray --shards N``), merged
into the same bytes as a one-process build with the same settings.

The driver walks the source's scenarios once (cheap: questions or plans, no stage runs):
a bad input line stops it with its located error before any shard starts, and it notes
how many scenarios there are and a digest of each shard's scenario ids. Shard ``i`` walks
the same deterministic stream (so de-duplication and shared resources such as the
procedural world are those of one build) and runs the five stages and the golden replay
on scenarios ``i, i + N, ...`` through :func:`~toolfeedback.build.pipeline.build` itself.
Its outcome per scenario, in order, goes to ``OUT.shards/build-<i>.jsonl``: ``{"index": k,
"env": RECORD}`` or ``{"index": k, "rejected": {"stage", "reason"}}``, one flushed line each.
The driver then writes ``OUT`` (staged, moved into place when complete) from the shard
files in scenario order, and counts the summary from them.

What a kill costs: a shard's lines are written one by one; a re-run shard skips the
scenarios its file holds (a torn last line is dropped and redone), so a killed shard or
driver loses only the scenarios in flight and writes none twice. A driver killed while
merging leaves ``OUT`` as it was. A different command (settings or shard count) starts the
shard files over. Across machines, ``OUT``'s folder must be on a file system every node sees.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import time
from pathlib import Path
from typing import Any, Iterator

import attrs

from ..errors import ToolfeedbackError
from ..shards import ShardConfig
from .pipeline import BuildConfig, BuildSummary

SHARD_FN = "toolfeedback.build.sharded:run_shard"
#: The shard's source, registered in the shard's own plugin manager.
SHARD_SOURCE = "build-shard"


def shard_dir(config: BuildConfig) -> Path:
    """``OUT.shards/`` beside the output file."""
    out = Path(config.out).resolve()
    return out.with_name(out.name + ".shards")


def _scenario_id(item: Any) -> str:
    return str(getattr(item, "id", "?"))


class _Digest:
    """A running digest of scenario ids (the driver's and a shard's must agree)."""

    def __init__(self):
        self.hash, self.count = hashlib.blake2b(digest_size=16), 0

    def add(self, item: Any) -> None:
        self.hash.update(_scenario_id(item).encode("utf-8", "surrogatepass") + b"\0")
        self.count += 1

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


def _scenarios(config: BuildConfig, pm) -> Iterator[Any]:
    """The source's scenario stream, as :func:`build` walks it (no stages, no executor)."""
    from ..registry import Catalog
    from .construction import StageContext

    source = Catalog(pm).get("sources", config.source)
    if hasattr(source, "check"):
        source.check(config)
    return source.scenarios(config, StageContext(config=config))


def _outcomes(path: Path) -> Iterator[dict]:
    """A shard file's outcome lines, lazily (a torn last line is dropped first)."""
    from ..jsonl import JsonlReader, repair_tail

    if not path.exists():
        return
    repair_tail(path)
    for _, obj in JsonlReader(path, on_error="skip"):
        if isinstance(obj, dict) and isinstance(obj.get("index"), int):
            yield obj


def _done(path: Path) -> set[int]:
    """The scenario indices a shard file holds."""
    return {obj["index"] for obj in _outcomes(path)}


class _ShardPlugin:
    """The shard's view of the build: its own scenarios in, one outcome line per scenario out.

    The pipeline settles scenarios in source order, so the k-th built/rejected hook call
    is the k-th scenario this source yielded.
    """

    def __init__(self, inner, index: int, shards: int, done: set[int], path: Path):
        from ..jsonl import JsonlWriter

        self.inner, self.index, self.shards, self.done = inner, index, shards, done
        self.name = SHARD_SOURCE
        self.default_stages = getattr(inner, "default_stages", None)
        self.yielded: list[int] = []  # in flight: yielded, not yet built or rejected
        self.ids = _Digest()
        self.writer = JsonlWriter(path, "a")

    def scenarios(self, config, ctx):
        for k, item in enumerate(self.inner.scenarios(config, ctx)):
            if k % self.shards != self.index:
                continue
            self.ids.add(item)
            if k not in self.done:
                self.yielded.append(k)
                yield item

    def _write(self, outcome: dict) -> None:
        self.writer.write({"index": self.yielded.pop(0), **outcome})

    def on_environment_built(self, environment):
        from ..ftrl import to_record

        self._write({"env": to_record(environment)})

    def on_environment_rejected(self, scenario_id, stage, reason):
        self._write({"rejected": {"stage": stage, "reason": reason}})


def run_shard(config: dict, index: int, shards: int) -> dict:
    """Build shard ``index`` of ``shards`` (on a worker); resumes from its file."""
    from .. import hookimpl
    from ..config import config_from_dict
    from ..manager import create_plugin_manager
    from ..registry import Catalog
    from .pipeline import build

    build_config = config_from_dict(BuildConfig, config)
    folder = shard_dir(build_config)
    path = folder / f"build-{index}.jsonl"
    pm = create_plugin_manager()
    inner = Catalog(pm).get("sources", build_config.source)
    shard = _ShardPlugin(inner, index, shards, set(_done(path)), path)

    class Hooks:
        @hookimpl
        def register_sources(self, register):
            register(shard)

        @hookimpl
        def on_environment_built(self, environment):
            shard.on_environment_built(environment)

        @hookimpl
        def on_environment_rejected(self, scenario_id, stage, reason):
            shard.on_environment_rejected(scenario_id, stage, reason)

    pm.register(Hooks(), name="build-shard")
    scratch = folder / f".scratch-{index}.jsonl"  # build()'s own output: the shard file holds it all
    try:
        summary = build(attrs.evolve(build_config, source=SHARD_SOURCE, out=str(scratch)), pm)
    finally:
        shard.writer.close()
        scratch.unlink(missing_ok=True)
    return {"built": summary.written, "rejected": summary.rejected,
            "seconds": summary.seconds, "ids": shard.ids.hexdigest()}


def _merge(config: BuildConfig, total: int, shards: int) -> BuildSummary:
    """Write ``config.out`` from the shard files, in scenario order (streaming: each shard
    file is in scenario order); the build's summary."""
    from ..ftrl import from_record
    from ..jsonl import JsonlWriter
    from .pipeline import _reason_key

    folder = shard_dir(config)
    paths = [folder / f"build-{i}.jsonl" for i in range(shards)]

    def merged() -> Iterator[dict]:
        return heapq.merge(*(_outcomes(p) for p in paths), key=lambda o: o["index"])

    # First check that every scenario is there once: a new --out is then written whole or not at all.
    expected = 0
    for outcome in merged():
        if outcome["index"] != expected:
            raise ToolfeedbackError(f"build: the shard files in {folder} do not hold every scenario "
                                    f"once; run the same command again to resume")
        expected += 1
    if expected != total:
        raise ToolfeedbackError(f"build: the shard files in {folder} hold {expected} of {total} "
                                f"scenarios; run the same command again to resume")
    summary = BuildSummary()
    with JsonlWriter(config.out, keep_existing=True) as writer:
        for outcome in merged():
            if "env" in outcome:
                writer.write(outcome["env"])
                summary.add(from_record(outcome["env"]))
            else:
                rejected = outcome["rejected"]
                summary.rejected += 1
                summary.rejections[f"{rejected['stage']}: {_reason_key(rejected['reason'])}"] += 1
    return summary


def _start_over_unless_same(config: BuildConfig, shards: int) -> None:
    """Shard files of another command (settings, shard count) would mix builds: drop them."""
    from ..config import config_to_dict

    folder = shard_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / "build.json"
    want = json.dumps({"config": config_to_dict(config), "shards": shards}, sort_keys=True)
    if stamp.exists() and stamp.read_text(encoding="utf-8") == want:
        return
    for old in folder.glob("build-*.jsonl"):
        old.unlink()
    stamp.write_text(want, encoding="utf-8")


def sharded_build(config: BuildConfig, shards: ShardConfig, *, pm=None) -> BuildSummary:
    """Build ``config`` as ``shards.shards`` shards with ``shards.runner``; merge into ``config.out``.

    The merged file is byte-identical to ``build(config)``'s; the summary counts the same
    (its ``seconds`` is this run's wall time). A shard that failed after the runner's
    retries is an error naming it; ``config.out`` is then left as it was, and the shard
    files keep what was built for the next run of the same command.
    """
    from ..config import config_to_dict
    from ..manager import create_plugin_manager
    from ..shards import ShardTask, get_runner

    config.check()
    shards.validate()
    pm = pm or create_plugin_manager()
    runner = get_runner(pm, shards.runner)
    started = time.perf_counter()
    ids = [_Digest() for _ in range(shards.shards)]
    total = 0
    for total, item in enumerate(_scenarios(config, pm), 1):
        ids[(total - 1) % shards.shards].add(item)
    _start_over_unless_same(config, shards.shards)
    folder = shard_dir(config)
    model_config = config
    if config.input and Path(config.input).exists():  # workers' cwd may differ
        model_config = attrs.evolve(config, input=str(Path(config.input).resolve()))
    data = config_to_dict(attrs.evolve(model_config, out=str(Path(config.out).resolve())))
    tasks = []
    for i in range(shards.shards):
        if len(_done(folder / f"build-{i}.jsonl")) == ids[i].count:
            continue
        one = dict(data)
        if shards.base_urls:
            one["base_url"] = shards.base_urls[i % len(shards.base_urls)]
        tasks.append(ShardTask(i, SHARD_FN, {"config": one, "index": i, "shards": shards.shards}))
    results = runner.run(tasks, parallel=shards.parallel,
                         options=dict(shards.runner_options)) if tasks else []
    failed = [(t.index, r.error) for t, r in zip(tasks, results) if not r.ok]
    if failed:
        raise ToolfeedbackError(f"build: {len(failed)} of {len(tasks)} shard(s) failed (shard "
                                f"{failed[0][0]}: {failed[0][1]}); {config.out} not written; "
                                f"run the same command again to resume")
    for task, result in zip(tasks, results):
        if isinstance(result.value, dict) and result.value.get("ids") != ids[task.index].hexdigest():
            raise ToolfeedbackError(f"build: shard {task.index} saw other scenarios than the driver: "
                                    f"sharded builds need a source that yields the same "
                                    f"scenarios on every run")
    summary = _merge(config, total, shards.shards)
    summary.seconds = time.perf_counter() - started
    return summary
