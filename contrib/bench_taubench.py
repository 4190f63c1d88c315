"""tau-bench adapter (the FTRL release's copy of the data): pass^k from the final database state.

Each task names a domain (``tau-bench/airline`` or ``tau-bench/retail``); the domain folder
holds ``tools.json``, ``codes.json`` (every function takes the database ``data`` first),
the database files and ``wiki.md`` (the agent's system prompt). Tools are stateful: each
episode gets a fresh copy of the database.

The conversation follows tau-bench: a simulated user (:mod:`toolfeedback.contrib.taubench_user`,
tau-bench's prompt, played by the agent's own model or by ``--user-backend`` /
``--user-model``) opens it; the agent makes at most one tool call per turn; each reply
without a call goes to the user, whose ``###STOP###`` ends the episode, as does a
``transfer_to_human_agents`` call. An episode that does not end so within ``--max-turns``
agent turns (30) scores 0, as in tau-bench. ``--user-backend none`` plays without a user:
the instruction is the only user message and the first reply without a call ends it.

Reward (tau-bench's): the gold ``actions`` replayed on a fresh database give the reference
state; 1 when the episode's final database hashes equal to it and every ``outputs`` string
(lowercased) is in an assistant message (lowercased, commas removed): with
``scoring="official"`` a reply to the user (no tool call), as in tau-bench; with
``"ftrl"`` an assistant message that carries a tool call, as the release's script reads it.
With ``--trials k``, each task is played k times and pass^j (j = 1..k) is the mean over
tasks of C(c, j) / C(k, j), c the task's passing trials (tau-bench's estimator).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from toolfeedback import hookimpl
from toolfeedback.evaluate.driver import BenchmarkError, mean, shared_data_dir
from toolfeedback.types import ToolCall
from toolfeedback.contracts import Evaluator

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


def outputs_found(task: dict, messages: list[dict], outputs_in: str = "official") -> bool:
    """Every expected output appears in an assistant message (see the module doc):
    ``official`` reads replies without tool calls, ``ftrl`` those with; ``all`` every one."""
    for output in task.get("outputs") or []:
        found = False
        for m in messages:
            if m.get("role") != "assistant":
                continue
            if (outputs_in == "official" and m.get("tool_calls")) or \
                    (outputs_in in ("ftrl", "release") and not m.get("tool_calls")):
                continue
            if output.lower() in (m.get("content") or "").lower().replace(",", ""):
                found = True
                break
        if not found:
            return False
    return True


def score(task: dict, domain: Domain, final_state: dict, messages: list[dict], *,
          reference: dict | None = None, outputs_in: str = "official") -> dict[str, float]:
    """pass^1 of one finished episode given its final database and chat."""
    reference = reference if reference is not None else replay(domain, parse_actions(task["actions"]))
    ok = state_hash(final_state) == state_hash(reference) and outputs_found(task, messages, outputs_in)
    return {"pass^1": 1.0 if ok else 0.0}


def pass_hat_k(successes: list[int], trials: int) -> dict[str, float]:
    """tau-bench's pass^k for k = 1..trials from each task's number of passing trials."""
    from math import comb

    return {f"pass^{k}": mean(comb(c, k) / comb(trials, k) for c in successes)
            for k in range(1, trials + 1)}


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


TERMINATE = "transfer_to_human_agents"
#: The agent loop's reasons an episode ended, as this benchmark's predictions name them.
FINISHED = {"stopped": "transfer"}


def _user_runtime(config, pm, rt):
    """The simulated user's generator: the agent's own, or ``--user-backend/--user-model``."""
    import attrs

    from toolfeedback.evaluate.driver import load_runtime

    backend = config.user_backend or config.backend
    model = config.user_model or config.model
    if backend == config.backend and model == config.model:
        return rt
    return load_runtime(attrs.evolve(config, backend=backend, model=model), pm, require_tools=False)


class TauBenchEvaluator(Evaluator):
    """``toolfeedback eval --evaluator taubench --model DIR [--trials K] [--scoring official|ftrl]
    [--user-backend openai --user-model NAME]``."""

    name = "taubench"

    def evaluate(self, config, pm) -> dict[str, Any]:
        """Play every task (``--trials`` times) with a simulated user and stateful tools, then
        compare end states with the gold replay."""
        from toolfeedback.contrib.taubench_user import SimulatedUser
        from toolfeedback.evaluate.driver import load_runtime, play, write_predictions
        from toolfeedback.rollout.engine import Policy, stop_on_tools
        from toolfeedback.runtime.executor import InProcessExecutor
        from toolfeedback.types import Environment, ToolSpec

        tasks, domains = load(config.data or shared_data_dir("ftrl-tau-bench"), config.limit)
        rt = load_runtime(config, pm)
        user_rt = None if config.user_backend == "none" else _user_runtime(config, pm, rt)
        envs, users, plays = [], {}, []
        for i, task in enumerate(tasks):
            dom = domains[task["data_source"].split("/")[-1]]
            for trial in range(config.trials):
                user = None if user_rt is None else SimulatedUser(
                    task["instruction"], user_rt["generator"], user_rt["params"], user_rt["mode"])
                first = task["instruction"] if user is None else user.opening()
                envs.append(Environment(
                    id=f"tau-{i}-{trial}", codes=dom.codes, unsolved={}, answer="",
                    tools=tuple(ToolSpec.from_openai(t) for t in dom.tools),
                    metadata={"state": dom.fresh()},
                    messages=({"role": "system", "content": dom.wiki},
                              {"role": "user", "content": first})))
                users[envs[-1].id] = user
                plays.append((i, trial))
        # The agent loop with the release's rules: one call per turn, a hand-off ends the
        # episode, each reply without a call goes to the episode's own simulated user.
        policy = Policy(max_turns=config.max_turns or 30, max_calls=1,
                        stop_when=stop_on_tools(TERMINATE), user_for=lambda env, sample: users[env.id])
        executor = InProcessExecutor()  # mutates each episode's database in place
        try:
            episodes = play(rt, envs, policy=policy, desc="taubench", batch_size=config.batch_size,
                            quiet=config.quiet, executor=executor)
        finally:
            executor.close()
        references = {}
        rows, successes = [], [0] * len(tasks)
        for (i, trial), ep in zip(plays, episodes):
            task = tasks[i]
            dom = domains[task["data_source"].split("/")[-1]]
            if i not in references:
                references[i] = replay(dom, parse_actions(task["actions"]))
            metrics = {"pass^1": 0.0} if ep.finished == "max_turns" else score(
                task, dom, ep.state, ep.messages, reference=references[i], outputs_in=config.scoring)
            successes[i] += int(metrics["pass^1"])
            rows.append({"instruction": task["instruction"], "data_source": task["data_source"],
                         "trial": trial, "finished": FINISHED.get(ep.finished, ep.finished),
                         "messages": ep.messages, "metrics": metrics})
        write_predictions(config.predictions, rows)
        sources = sorted({t["data_source"] for t in tasks})
        return {"count": len(tasks), "trials": config.trials, "scoring": config.scoring,
                "user": "none" if user_rt is None else (config.user_model or config.model),
                **pass_hat_k(successes, config.trials),
                "by_domain": {s: mean(successes[i] / config.trials for i, t in enumerate(tasks)
                                      if t["data_source"] == s) for s in sources}}


@hookimpl
def register_evaluators(register):
    register(TauBenchEvaluator())
