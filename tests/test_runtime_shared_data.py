"""Real released tools through the sandbox vs the in-process baseline (skips without
``../shared/data``): tau-bench gold actions as stateful episodes, ToolHop generated tools."""

from __future__ import annotations

import json

from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.runtime.sandbox import Sandbox
from toolfeedback.types import ToolCall


def test_tau_bench_gold_actions_match_baseline(shared_data):
    root = shared_data / "ftrl-tau-bench"
    codes = json.loads((root / "tau-bench" / "retail" / "codes.json").read_text())
    db_text = json.dumps({p: json.loads((root / "tau-bench" / "retail" / f"{p}.json").read_text())
                          for p in ("orders", "products", "users")})
    tasks = [json.loads(line) for line in (root / "tau-bench.jsonl").read_text().splitlines()]
    tasks = [t for t in tasks if t["data_source"].endswith("retail")][:4]
    shared = json.loads(db_text)
    with Sandbox(workers=2) as box:
        for n, task in enumerate(tasks):
            calls = [ToolCall(a["function"]["name"], json.loads(a["function"]["arguments"]))
                     for a in task["actions"]]
            base, fresh = InProcessExecutor(), json.loads(db_text)  # the release reloads per task
            want = [base.run_calls("retail", codes, [c], episode="t", state=fresh)[0].content for c in calls]
            got = [box.run_calls("retail", codes, [c], episode=f"t{n}", state=shared)[0].content for c in calls]
            box.end_episode(f"t{n}")
            assert got == want
        assert box.stats["retired"] == 0 and box.stats["crashes"] == 0


def test_toolhop_generated_tools_match_baseline(shared_data):
    import ast

    rows = [json.loads(line) for line in
            (shared_data / "toolhop" / "toolhop_subset_first50.jsonl").read_text().splitlines()[:10]]
    with Sandbox(workers=2) as box:
        for i, row in enumerate(rows):
            codes, calls = {}, []
            for source in row["functions"]:
                tree = ast.parse(source)
                keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
                fn = next(n for n in keep if isinstance(n, ast.FunctionDef))
                codes[fn.name] = ast.unparse(ast.Module(body=keep, type_ignores=[]))
                required = [a.arg for a in fn.args.args[:len(fn.args.args) - len(fn.args.defaults)]]
                calls.append(ToolCall(fn.name, {p: row["answer"] for p in required}))
            want = [r.content for r in InProcessExecutor().run_calls(f"hop{i}", codes, calls)]
            assert [r.content for r in box.run_calls(f"hop{i}", codes, calls)] == want
