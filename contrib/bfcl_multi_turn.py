"""BFCL's multi-turn categories, played by our agent loop against BFCL's own backends.

``multi_turn_base``, ``multi_turn_miss_func``, ``multi_turn_miss_param`` and
``multi_turn_long_context`` need the ``bfcl-eval`` package: its executable backends (file
system, trading bot, travel booking, ...) run the calls and its ``multi_turn_checker``
scores the result (each turn's end state and call results against the ground truth's). As
BFCL's harness does: the tools are the function docs of the entry's classes (a
``missed_function`` held out until its turn, which then says "I have updated some more
functions you can choose from. What about now?"); each turn's user messages are appended
and the model steps until a reply without calls, at most 20 steps a turn (more: the entry
fails); each call runs as ``name(arg=repr, ...)`` on the entry's backend instances.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from pathlib import Path
from typing import Any

CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param",
              "multi_turn_long_context")
MAX_STEPS = 20
MODEL_NAME = "toolfeedback"
ADDED_FUNCTIONS = "I have updated some more functions you can choose from. What about now?"


def _module(name: str):
    return importlib.import_module(f"bfcl_eval.{name}")


def prepare(entry: dict) -> tuple[list[dict], dict[str, list[dict]]]:
    """``(functions, held_out)`` of a multi-turn entry: the docs of its classes, and per turn
    index the docs of the functions missed until then."""
    config = _module("constants.executable_backend_config")
    folder = Path(_module("eval_checker").__file__).parents[1] / "data" / "multi_turn_func_doc"
    functions: list[dict] = []
    for cls in entry["involved_classes"]:
        file = folder / config.MULTI_TURN_FUNC_DOC_FILE_MAPPING[cls]
        functions += [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    held: dict[str, list[dict]] = {}
    for turn, names in (entry.get("missed_function") or {}).items():
        held[str(turn)] = [f for f in functions if f["name"] in names]
        functions = [f for f in functions if f["name"] not in names]
    return functions, held


def call_text(name: str, arguments: dict) -> str:
    """A call as BFCL's harness writes it for execution: ``name(k=repr(v),...)``."""
    return f"{name}({','.join(f'{k}={v!r}' for k, v in arguments.items())})"


def _forget(entry_id: str) -> None:
    # BFCL keeps backend instances in its module's globals, by model and entry: start fresh
    utils = _module("eval_checker.multi_turn_eval.multi_turn_utils")
    tag = re.sub(r"[-./:]", "_", f"_{entry_id}_")
    for key in [k for k in vars(utils) if tag in k and k.endswith("_instance")]:
        del vars(utils)[key]


class BackendExecutor:
    """Our executor interface over BFCL's backends: ``env_key`` is the entry id."""

    def __init__(self, entries: dict[str, dict]):
        self.entries = entries
        self.steps: dict[str, list[list[str]]] = {k: [] for k in entries}

    def run_calls(self, env_key, codes, calls, *, episode=None, state=None, timeout=None):
        """Run one step's calls on the entry's backend instances, in order."""
        from toolfeedback.types import ToolResult

        utils = _module("eval_checker.multi_turn_eval.multi_turn_utils")
        entry = self.entries[env_key]
        texts = [call_text(c.name, c.arguments) for c in calls]
        results, _ = utils.execute_multi_turn_func_call(
            texts, entry.get("initial_config", {}), entry["involved_classes"], MODEL_NAME,
            entry["id"], long_context="long_context" in entry["id"], is_evaL_run=False)
        self.steps[env_key].append(texts)
        return [ToolResult(c.name, str(r), ok=not str(r).startswith("Error during execution"),
                           call_id=c.id) for c, r in zip(calls, results)]

    def end_episode(self, episode: str) -> None:
        """Nothing to forget here: the entry's instances live until it is scored."""

    def close(self) -> None:
        """Forget every entry's backend instances."""
        for entry_id in self.entries:
            _forget(entry_id)


def play(items: list[dict], rt: dict, to_tool, max_steps: int = MAX_STEPS) -> list[dict]:
    """Play every multi-turn item (``{"category", "record", "truth"}``) with the agent
    loop; returns per item ``{"messages", "turns": [[step call texts]], "forced": bool}``."""
    from toolfeedback.evaluate.driver import play as play_episodes
    from toolfeedback.rollout.engine import Policy
    from toolfeedback.types import Environment, ToolSpec

    entries = {it["record"]["id"]: it["record"] for it in items}
    for entry_id in entries:
        _forget(entry_id)
    executor = BackendExecutor(entries)
    docs = {k: prepare(e) for k, e in entries.items()}
    tools = {k: [to_tool(f) for f in fns] for k, (fns, _) in docs.items()}
    messages: dict[str, list[dict]] = {k: [] for k in entries}
    out = {k: {"messages": None, "turns": [], "forced": False} for k in entries}
    n_turns = max(len(e["question"]) for e in entries.values())
    # Each user turn is one run of the agent loop over the entries still playing, continuing
    # their chats with that turn's messages and tools.
    policy = Policy(max_turns=max_steps + 1)
    for turn in range(n_turns):
        active = []
        for k, entry in entries.items():
            if turn >= len(entry["question"]) or out[k]["forced"]:
                continue
            message = list(entry["question"][turn])
            held = docs[k][1].get(str(turn))
            if held:
                tools[k] += [to_tool(f) for f in held]
                message = [{"role": "user", "content": ADDED_FUNCTIONS}]
            executor.steps[k] = []
            active.append(Environment(id=k, messages=tuple(messages[k] + message), codes={},
                                      tools=tuple(ToolSpec.from_openai(t) for t in tools[k]),
                                      unsolved={}, answer=""))
        episodes = play_episodes(rt, active, policy=policy, desc="bfcl multi-turn",
                                 batch_size=max(1, len(active)), quiet=True, executor=executor)
        for ep in episodes:
            k = ep.env.id
            messages[k] = ep.messages
            out[k]["turns"].append(executor.steps[k])
            out[k]["forced"] = ep.finished == "max_turns"
    for k in entries:
        out[k]["messages"] = messages[k]
    executor.close()
    return [out[it["record"]["id"]] for it in items]


def check(record: dict, truth: list[list[str]], turns: list[list[list[str]]], forced: bool,
          category: str) -> dict[str, Any]:
    """The official verdict on one played entry (``turns``: each turn's steps' call texts)."""
    if forced or len(turns) != len(truth):
        return {"valid": False, "error": "forced to quit: too many steps in a turn" if forced
                else f"{len(turns)} turns played, {len(truth)} expected"}
    checker = _module("eval_checker.multi_turn_eval.multi_turn_checker")
    _forget(record["id"])
    try:
        result = checker.multi_turn_checker(turns, truth, copy.deepcopy(record), category, MODEL_NAME)
    except Exception as exc:  # noqa: BLE001 - the checker's own failure on this entry
        result = {"valid": False, "error_message": f"checker raised {type(exc).__name__}: {exc}"}
    finally:
        _forget(record["id"])
    return {"valid": bool(result.get("valid")),
            "error": None if result.get("valid") else str(result.get("error_message") or result)[:500]}
