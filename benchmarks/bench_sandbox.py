"""Sandbox throughput vs the release's in-process approach, on the same tool calls.

Workload (read from ``../shared/data`` beside the repository; skipped when absent):
- generated environments: the ToolHop subset's LLM-generated tools (one environment per
  row, every tool called in one step, several argument variants per row);
- tau-bench: every task's gold actions replayed as one episode against a fresh copy of its
  domain database (stateful tools taking ``data``), one call per step as the release does.

Both executors get the same steps in the same order; the baseline is
:class:`~toolfeedback.runtime.executor.InProcessExecutor` (exec of the code string on every call, a
thread per call for the timeout), given a fresh database per episode by ``json.loads`` of
the domain files' text, as the release reloads them per task. Outputs must be identical.
Prints calls/s, per-step p50/p99 latency, and last ``sandbox_vs_inprocess_ratio=<float>``.

Both executors run ``--repeats`` times (default 3), interleaved, and the best run of each
is compared, since a shared machine's load comes and goes.

Run: ``python benchmarks/bench_sandbox.py [--rows 50] [--variants 12] [--tau-tasks 165] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path

from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.runtime.sandbox import Sandbox
from toolfeedback.types import ToolCall

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _tool_sources(functions: list[str]) -> dict[str, tuple[str, list[str]]]:
    """name -> (code with top-level example statements dropped, required parameter names)."""
    out = {}
    for source in functions:
        tree = ast.parse(source)
        keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                        ast.ClassDef, ast.Assign))]
        for node in keep:
            if isinstance(node, ast.FunctionDef):
                args = node.args.args
                required = [a.arg for a in args[:len(args) - len(node.args.defaults)]]
                out[node.name] = (ast.unparse(ast.Module(body=keep, type_ignores=[])), required)
                break
    return out


def toolhop_steps(rows: int, variants: int) -> list[tuple]:
    """Steps ``(env_key, codes, calls, episode, state_name)`` from the ToolHop rows."""
    path = DATA / "toolhop" / "toolhop_subset_first50.jsonl"
    steps = []
    for i, line in enumerate(path.read_text().splitlines()[:rows]):
        row = json.loads(line)
        tools = _tool_sources(row["functions"])
        codes = {name: code for name, (code, _) in tools.items()}
        sub = ast.literal_eval(row["sub_task"]) if isinstance(row["sub_task"], str) else row["sub_task"]
        values = list(sub.values()) + list(sub.keys()) + [row["answer"], "unknown", "1302", "Paris"]
        for v in range(variants):
            calls = []
            for name, (_, required) in tools.items():
                args = {p: values[(v + j) % len(values)] for j, p in enumerate(required)}
                calls.append(ToolCall(name, args, id=f"c{v}"))
            steps.append((f"toolhop-{i}", codes, calls, None, None))
    return steps


def tau_steps(tasks: int) -> tuple[list[tuple], dict[str, str]]:
    """Steps replaying the gold actions, one episode per task; and each domain's database text."""
    root = DATA / "ftrl-tau-bench"
    domains = {"retail": ("orders", "products", "users"), "airline": ("flights", "reservations", "users")}
    db_text, codes = {}, {}
    for domain, parts in domains.items():
        db = {p: json.loads((root / "tau-bench" / domain / f"{p}.json").read_text()) for p in parts}
        db_text[domain] = json.dumps(db)
        codes[domain] = json.loads((root / "tau-bench" / domain / "codes.json").read_text())
    steps = []
    for t, line in enumerate((root / "tau-bench.jsonl").read_text().splitlines()[:tasks]):
        task = json.loads(line)
        domain = task["data_source"].split("/")[-1]
        for action in task["actions"]:
            fn = action["function"]
            steps.append((f"tau-{domain}", codes[domain],
                          [ToolCall(fn["name"], json.loads(fn["arguments"]), id=action.get("id"))],
                          f"task-{t}", domain))
    return steps, db_text


def run(executor, steps, db_text, *, fresh_state_per_episode: bool):
    """Run every step; returns (outputs, per-step latencies in seconds, wall seconds)."""
    states: dict[str, object] = {}
    shared = {d: json.loads(text) for d, text in db_text.items()}  # the sandbox copies per episode
    outputs, latencies = [], []
    last = {s[3]: i for i, s in enumerate(steps) if s[3] is not None}  # episode -> its last step
    start = time.perf_counter()
    for i, (env_key, codes, calls, episode, domain) in enumerate(steps):
        state = None
        if episode is not None:
            if fresh_state_per_episode:
                if episode not in states:  # the release reloads the database per task
                    states[episode] = json.loads(db_text[domain])
                state = states[episode]
            else:
                state = shared[domain]
        t0 = time.perf_counter()
        results = executor.run_calls(env_key, codes, calls, episode=episode, state=state)
        latencies.append(time.perf_counter() - t0)
        outputs.extend(r.content for r in results)
        if episode is not None and last[episode] == i:  # the task is over, as in a rollout
            executor.end_episode(episode)
            states.pop(episode, None)
    return outputs, latencies, time.perf_counter() - start


def run_concurrent(sandbox, steps, db_text, clients: int):
    """Stateless steps split across ``clients`` threads (stateful ones keep their order)."""
    shared = {d: json.loads(text) for d, text in db_text.items()}
    groups: list[list] = [[] for _ in range(clients)]
    for i, step in enumerate(steps):
        key = step[3] if step[3] is not None else str(i)
        groups[hash(key) % clients].append(step)
    start = time.perf_counter()

    def go(group):
        last = {s[3]: i for i, s in enumerate(group) if s[3] is not None}
        for i, (env_key, codes, calls, episode, domain) in enumerate(group):
            sandbox.run_calls(env_key, codes, calls, episode=f"c-{episode}" if episode else None,
                              state=shared[domain] if episode else None)
            if episode is not None and last[episode] == i:
                sandbox.end_episode(f"c-{episode}")

    threads = [threading.Thread(target=go, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def start_costs(sandbox, n: int = 200) -> tuple[list[float], list[float]]:
    """Latencies of ``n`` one-call stateless steps of a trivial tool (strict: each is a fresh
    process, so this is the per-episode start cost plus one call) and of ``n`` one-call
    steps inside one warm episode (the per-call cost)."""
    trivial = {"ping": "def ping(data=None):\n    return 'pong'"}
    starts, calls = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        sandbox.run_calls("start-cost", trivial, [ToolCall("ping", {})])
        starts.append(time.perf_counter() - t0)
    state = {"k": 1}
    for _ in range(n):
        t0 = time.perf_counter()
        sandbox.run_calls("call-cost", trivial, [ToolCall("ping", {})], episode="warm", state=state)
        calls.append(time.perf_counter() - t0)
    sandbox.end_episode("warm")
    return starts, calls


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50, help="ToolHop rows (environments)")
    parser.add_argument("--variants", type=int, default=12, help="argument variants per ToolHop row")
    parser.add_argument("--tau-tasks", type=int, default=165, help="tau-bench tasks (episodes)")
    parser.add_argument("--workers", type=int, default=2, help="sandbox worker processes")
    parser.add_argument("--share-tables", action="store_true",
                        help="let read-only tools share pristine database tables (opt-in; "
                             "trusts a static reading of the tool code)")
    parser.add_argument("--isolation", choices=("strict", "basic"), default="strict",
                        help="the sandbox's isolation (strict: one confined process per episode)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of each executor, interleaved; the best of each is compared")
    parser.add_argument("--clients", type=int, default=0,
                        help="also time this many concurrent callers on the sandbox (0: skip)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    steps, db_text = tau_steps(args.tau_tasks)
    steps = toolhop_steps(args.rows, args.variants) + steps
    # interleave so both kinds of work alternate, as in a mixed rollout batch
    hop = [s for s in steps if s[3] is None]
    tau = [s for s in steps if s[3] is not None]
    mixed, k = [], max(1, len(hop) // max(1, len(tau)))
    while hop or tau:
        mixed.extend(hop[:k])
        del hop[:k]
        if tau:
            mixed.append(tau.pop(0))
    steps = mixed
    n_calls = sum(len(s[2]) for s in steps)

    # The in-process baseline runs tool code in this process, and some ToolHop tools print:
    # send that to /dev/null (cheaper than a terminal, so the baseline is, if anything, favoured).
    devnull = open(os.devnull, "w")

    def baseline():
        with contextlib.redirect_stdout(devnull):
            return run(InProcessExecutor(), steps, db_text, fresh_state_per_episode=True)

    # Drop nondeterministic tools (random, clock): two baseline runs must agree.
    first, _, _ = baseline()
    second, _, _ = baseline()
    flat = [(i, j) for i, s in enumerate(steps) for j in range(len(s[2]))]
    unstable = {flat[k][0] for k, (a, b) in enumerate(zip(first, second)) if a != b}
    steps = [s for i, s in enumerate(steps) if i not in unstable]
    n_calls = sum(len(s[2]) for s in steps)

    # Both ways, interleaved, several times: a shared machine's load comes and goes, so the
    # best run of each is compared (every run's outputs are checked).
    base_runs, ours_runs = [], []
    mismatches = 0
    with Sandbox(workers=args.workers, share_tables=args.share_tables, isolation=args.isolation) as sandbox:
        sandbox.warm()
        run(sandbox, steps[:50], db_text, fresh_state_per_episode=False)  # start-up, first imports
        for _ in range(max(1, args.repeats)):
            base_runs.append(baseline())
            ours_runs.append(run(sandbox, steps, db_text, fresh_state_per_episode=False))
            base_out, ours_out = base_runs[-1][0], ours_runs[-1][0]
            mismatches += sum(1 for a, b in zip(base_out, ours_out) if a != b) + abs(len(base_out) - len(ours_out))
        concurrent = run_concurrent(sandbox, steps, db_text, args.clients) if args.clients > 1 else None
        starts, per_call = start_costs(sandbox)
        stats = dict(sandbox.stats)
    base_out, base_lat, base_wall = min(base_runs, key=lambda r: r[2])
    ours_out, ours_lat, ours_wall = min(ours_runs, key=lambda r: r[2])
    print(f"workload: {len(steps)} steps, {n_calls} calls ({len(unstable)} nondeterministic steps dropped), "
          f"{len({s[3] for s in steps if s[3]})} tau-bench episodes")
    print(f"outputs identical: {mismatches == 0} ({mismatches} mismatches of "
          f"{len(base_out)} calls x {len(base_runs)} runs)")
    print("runs (s): inprocess " + " ".join(f"{r[2]:.3f}" for r in base_runs)
          + " | sandbox " + " ".join(f"{r[2]:.3f}" for r in ours_runs) + "; best of each below")
    for label, wall, lat in (("inprocess (release)", base_wall, base_lat), ("sandbox", ours_wall, ours_lat)):
        print(f"{label:20s} {n_calls / wall:9.0f} calls/s  step p50 {pct(lat, .5) * 1e6:8.0f} us  "
              f"p99 {pct(lat, .99) * 1e6:8.0f} us  mean/call {wall / n_calls * 1e6:7.0f} us")
    if concurrent:
        print(f"sandbox x{args.clients} callers {n_calls / concurrent:7.0f} calls/s  "
              f"ratio {base_wall / concurrent:.2f}")
    print(f"episode start (one-call stateless step): p50 {pct(starts, .5) * 1e6:.0f} us  "
          f"p99 {pct(starts, .99) * 1e6:.0f} us; call in a warm episode: p50 {pct(per_call, .5) * 1e6:.0f} us  "
          f"p99 {pct(per_call, .99) * 1e6:.0f} us")
    print(f"sandbox stats: {stats}")
    if mismatches:
        for a, b in [(a, b) for a, b in zip(base_out, ours_out) if a != b][:3]:
            print(f"  baseline: {a[:150]!r}\n  sandbox:  {b[:150]!r}")
    print(f"sandbox_vs_inprocess_ratio={base_wall / ours_wall:.3f}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
