"""tau-bench adapter (the FTRL release's copy): pass^1 from the final database state.

Each task names a domain (``tau-bench/airline`` or ``tau-bench/retail``); the domain folder
holds ``tools.json``, ``codes.json`` (every function takes the database ``data`` first) and
the database files. Tools are stateful: each episode gets a fresh copy of the database.
Scoring follows the release: replay the gold ``actions`` on a fresh copy; pass^1 = 1 when
the episode's final database hashes equal to that reference, and every ``outputs`` string
(lowercased) appears in an assistant message's content (lowercased, commas removed). The
release looks only at assistant messages that also carry tool calls; ``outputs_in="all"``
looks at every assistant message (the original tau-bench reading).

Offline there is no simulated user (the release prompts GPT-4o for one): the task
instruction is given as the user's message and the episode ends at the first reply
without tool calls, so figures are not comparable to the paper's.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir
from toolfeedback.progress import progress_bar
from toolfeedback.types import ToolCall

DOMAINS = {"airline": ("flights", "reservations", "users"), "retail": ("orders", "products", "users")}


def _hashable(item: Any) -> Any:
    if isinstance(item, dict):
        return tuple((k, _hashable(v)) for k, v in sorted(item.items()))
    if isinstance(item, (list, tuple)):
        return tuple(_hashable(v) for v in item)
    if isinstance(item, set):
        return tuple(sorted(_hashable(v) for v in item))
    return item


def state_hash(data: Any) -> str:
    """A stable digest of a database (dict keys sorted, list order kept, 1 != 1.0)."""
    return hashlib.sha256(str(_hashable(data)).encode("utf-8")).hexdigest()


class Domain:
    """One domain folder: tools, codes, the pristine database and the system prompt."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.name = folder.name
        if self.name not in DOMAINS:
            raise BenchmarkError(f"{folder}: unknown tau-bench domain (known: {', '.join(DOMAINS)})")
        self.tools = self._json(folder / "tools.json")
        self.codes = self._json(folder / "codes.json")
        self.database = {part: self._json(folder / f"{part}.json") for part in DOMAINS[self.name]}
        wiki = folder / "wiki.md"
        self.wiki = wiki.read_text(encoding="utf-8") if wiki.exists() else ""

    @staticmethod
    def _json(file: Path) -> Any:
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchmarkError(f"{file}: no such file") from None
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{file}: invalid JSON ({exc.msg}, line {exc.lineno})") from None

    def fresh(self) -> dict:
        """A private copy of the database for one episode."""
        return copy.deepcopy(self.database)


def parse_actions(actions: list[dict]) -> list[ToolCall]:
    """OpenAI-style gold actions -> calls (arguments decoded)."""
    calls = []
    for i, action in enumerate(actions):
        fn = action["function"]
        args = fn.get("arguments") or "{}"
        calls.append(ToolCall(fn["name"], json.loads(args) if isinstance(args, str) else args,
                              str(action.get("id", i))))
    return calls


def replay(domain: Domain, calls: list[ToolCall], executor=None) -> dict:
    """Run ``calls`` in order on a fresh database; return the final database."""
    from toolfeedback.runtime.executor import InProcessExecutor

    data = domain.fresh()
    own = executor is None
    executor = executor or InProcessExecutor()
    try:
        for call in calls:  # one at a time: later calls see earlier writes
            executor.run_calls(domain.name, domain.codes, [call], episode="gold", state=data)
        executor.end_episode("gold")
    finally:
        if own:
            executor.close()
    return data


def outputs_found(task: dict, messages: list[dict], outputs_in: str = "release") -> bool:
    """Every expected output appears in an assistant message (see the module doc)."""
    for output in task.get("outputs") or []:
        found = False
        for m in messages:
            if m.get("role") != "assistant" or (outputs_in == "release" and not m.get("tool_calls")):
                continue
            if output.lower() in (m.get("content") or "").lower().replace(",", ""):
                found = True
                break
        if not found:
            return False
    return True


def score(task: dict, domain: Domain, final_state: dict, messages: list[dict], *,
          reference: dict | None = None, outputs_in: str = "release") -> dict[str, float]:
    """pass^1 of one episode given its final database and chat."""
    reference = reference if reference is not None else replay(domain, parse_actions(task["actions"]))
    ok = state_hash(final_state) == state_hash(reference) and outputs_found(task, messages, outputs_in)
    return {"pass^1": 1.0 if ok else 0.0}


def _check_task(task: Any) -> dict:
    if not isinstance(task, dict):
        raise ValueError("$: expected an object")
    for key, kind in (("instruction", str), ("actions", list), ("outputs", list), ("data_source", str)):
        if not isinstance(task.get(key), kind):
            raise ValueError(f"$.{key}: missing or not a {kind.__name__}")
    try:
        parse_actions(task["actions"])
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"$.actions: not OpenAI tool calls with JSON arguments ({exc})") from None
    return task


def load(path: str | Path, limit: int = 0) -> tuple[list[dict], dict[str, Domain]]:
    """Tasks of ``tau-bench.jsonl`` in ``path`` and the domains they use."""
    from toolfeedback.jsonl import JsonlReader

    path = Path(path)
    file = path / "tau-bench.jsonl" if path.is_dir() else path
    folder = file.parent / "tau-bench"
    tasks, domains = [], {}
    for n, task in JsonlReader(file, _check_task):
        source = task["data_source"]
        name = source.split("/")[-1]
        if name not in DOMAINS:
            raise BenchmarkError(f"{file}:{n}: $.data_source: unknown {source!r}")
        if name not in domains:
            domains[name] = Domain(folder / name)
        tasks.append(task)
        if limit and len(tasks) >= limit:
            break
    return tasks, domains


class TauBenchEvaluator:
    """``toolfeedback eval --evaluator taubench --model DIR`` (agent-only, no simulated user)."""

    name = "taubench"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """Play every task with stateful tools, then compare end states with the gold replay."""
        from toolfeedback.rollout.episodes import Episode, run_episodes
        from toolfeedback.evaluate.driver import load_runtime, write_predictions
        from toolfeedback.runtime.executor import InProcessExecutor

        tasks, domains = load(config.data or shared_data_dir("ftrl-tau-bench"), config.limit)
        rt = load_runtime(config, pm)
        episodes = []
        for i, task in enumerate(tasks):
            dom = domains[task["data_source"].split("/")[-1]]
            episodes.append(Episode(
                key=f"tau-{i}", codes=dom.codes, tools=dom.tools, state=dom.fresh(),
                messages=[{"role": "system", "content": dom.wiki},
                          {"role": "user", "content": task["instruction"]}]))
        bar = progress_bar(len(episodes), "taubench", quiet=config.quiet)
        executor = InProcessExecutor()
        try:
            run_episodes(episodes, generator=rt["generator"], tool_format=rt["tool_format"],
                         mode=rt["mode"], executor=executor, params=rt["params"],
                         max_turns=config.max_turns or 30, one_tool_only=True,
                         stop_when=lambda ep, calls: calls[0].name == "transfer_to_human_agents",
                         progress=bar)
        finally:
            executor.close()
            bar.close()
        rows = []
        for task, ep in zip(tasks, episodes):
            dom = domains[task["data_source"].split("/")[-1]]
            rows.append({"instruction": task["instruction"], "data_source": task["data_source"],
                         "messages": ep.messages, "metrics": score(task, dom, ep.state, ep.messages)})
        write_predictions(config.predictions, rows)
        sources = sorted({r["data_source"] for r in rows})
        return {"count": len(rows), "pass^1": mean(r["metrics"]["pass^1"] for r in rows),
                "by_domain": {s: mean(r["metrics"]["pass^1"] for r in rows if r["data_source"] == s)
                              for s in sources},
                "note": "agent-only: no simulated user (offline)"}


@hookimpl
def register_evaluators(register):
    register(TauBenchEvaluator())
