"""The sandbox: hostile tool code is contained, the next call of the same step still
scores, stateful episodes are isolated, nothing leaks."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from toolfeedback.env import run_step
from toolfeedback.executor import InProcessExecutor
from toolfeedback.plugins.format_hermes import HermesFormat
from toolfeedback.sandbox import Sandbox
from toolfeedback.types import Environment, ToolCall, ToolSpec

FIXTURES = Path(__file__).parent / "fixtures" / "ftrl_tau_bench"
GOOD = "def good(city):\n    return {'city': city, 'capital_of': {'paris': 'France'}.get(city.lower(), '?')}"

HOSTILE = {
    "loop": "def loop():\n    while True:\n        pass",
    "memory": "def memory():\n    blocks = []\n    while True:\n        blocks.append(bytearray(50 * 1024 * 1024))",
    "huge": "def huge():\n    return 'z' * 3_000_000",
    "recursion": "def recursion(n=0):\n    return recursion(n + 1)",
    "deep_c": "def deep_c():\n    import sys\n    sys.setrecursionlimit(10**8)\n    def f(n):\n        return f(n + 1)\n    return f(0)",
    "system": "def system():\n    import os\n    return os.system('touch /tmp/tf_sandbox_pwned')",
    "write": "def write():\n    with open('/tmp/tf_sandbox_pwned', 'w') as f:\n        f.write('x')\n    return 'wrote'",
    "socket": "def socket():\n    import socket as s\n    c = s.create_connection(('127.0.0.1', 9))\n    return 'connected'",
    "exit": "def exit():\n    import sys\n    sys.exit(7)",
    "os_exit": "def os_exit():\n    import os\n    os._exit(1)",
    "ctypes": "def ctypes():\n    import ctypes as c\n    return c.string_at(0)",
    "segfault": "def segfault():\n    import faulthandler\n    faulthandler._sigsegv()",
    "kill_parent": "def kill_parent():\n    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)",
    "spawn": "def spawn():\n    import subprocess\n    subprocess.Popen(['sleep', '300'])\n    return 'spawned'",
    "fork": "def fork():\n    import os\n    if os.fork() == 0:\n        import time\n        time.sleep(300)\n    return 'forked'",
    "patch": "def patch():\n    import json\n    json.dumps = lambda *a, **k: 'PATCHED'\n    return 'patched'",
    "thread": "def thread():\n    import threading, time\n    threading.Thread(target=time.sleep, args=(300,)).start()\n    return 'started'",
    "good": GOOD,
}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, timeout=1.0, memory_mb=768, max_output=100_000) as box:
        yield box


def _children():
    """Live sandbox worker processes whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"sandbox_worker" in cmd and " Z " not in stat[:80]:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("name", [n for n in HOSTILE if n != "good"])
def test_hostile_call_is_contained_and_next_call_scores(sandbox, name):
    env = Environment(id=f"hostile-{name}", messages=(), tools=(ToolSpec(name), ToolSpec("good")),
                      codes=HOSTILE, unsolved={"good": ("France",), name: ("PATCHED",)}, answer="France")
    text = (f'<tool_call>{{"name": "{name}", "arguments": {{}}}}</tool_call>'
            '<tool_call>{"name": "good", "arguments": {"city": "Paris"}}</tool_call>')
    outcome = run_step(env, text, executor=sandbox, tool_format=HermesFormat())
    hostile, good = outcome.results
    assert good.ok and json.loads(good.content) == {"city": "Paris", "capital_of": "France"}
    assert outcome.hits[1] == "France"
    assert not Path("/tmp/tf_sandbox_pwned").exists()
    if name == "huge":
        assert hostile.ok and len(hostile.content) < 100_100 and hostile.content.endswith("characters]")
    elif name in ("patch", "thread"):
        assert hostile.ok  # allowed, but the worker is retired before anyone else runs
    else:
        assert not hostile.ok and hostile.content.startswith(f"an error occured when call {name}: ")
        assert "Traceback" not in hostile.content and "sandbox.py" not in hostile.content
    # another environment, in the same pool, sees pristine modules
    after = sandbox.run_calls("other-env", {"plain": "def plain():\n    import json\n    return json.dumps([1])"},
                              [ToolCall("plain", {})] * 4)
    assert [r.content for r in after] == ["[1]"] * 4


def test_reasons_are_clear(sandbox):
    codes = {k: HOSTILE[k] for k in ("loop", "system", "write", "kill_parent", "segfault", "socket")}
    results = sandbox.run_calls("reasons", codes, [ToolCall(n, {}) for n in codes])
    text = {r.name: r.content for r in results}
    assert "Function call_function (args=('loop', {}, " in text["loop"]  # the release's timeout text
    assert "timed out after 1.000000 seconds." in text["loop"]
    assert text["system"].endswith("os.system is not allowed in the tool sandbox")
    assert "only the scratch directory" in text["write"]
    assert text["kill_parent"].endswith("os.kill is not allowed in the tool sandbox")
    assert "SIGSEGV" in text["segfault"]
    assert "socket" in text["socket"] and "not allowed" in text["socket"]


def test_release_outputs_match_in_process_baseline(sandbox):
    codes = {"good": GOOD, "num": "def num(x):\n    return x * 2", "lst": "def lst():\n    return ['é', 1.5, None]",
             "err": "def err(x):\n    raise KeyError(x)", "syntax": "def syntax(:\n  pass",
             "nodef": "x = 1", "tup": "def tup():\n    return (1, 'a')", "unser": "def unser():\n    return [{1, 2}]"}
    calls = [ToolCall("good", {"city": "paris"}), ToolCall("num", {"x": 21}), ToolCall("lst", {}),
             ToolCall("err", {"x": "k"}), ToolCall("syntax", {}), ToolCall("nodef", {}), ToolCall("tup", {}),
             ToolCall("missing", {}), ToolCall("num", [1]), ToolCall("num", {"y": 1}), ToolCall("unser", {})]
    ours = sandbox.run_calls("same", codes, calls)
    base = InProcessExecutor().run_calls("same", codes, calls)
    assert [r.content for r in ours] == [r.content for r in base]
    assert [r.ok for r in ours] == [r.ok for r in base]


def test_stateful_episodes_are_isolated(sandbox):
    codes = json.loads((FIXTURES / "retail_codes.json").read_text())
    db = {"users": {"u1": {"name": "Ann", "address": {"city": "Old"}}}, "orders": {}, "products": {}}
    move = ToolCall("modify_user_address", {"user_id": "u1", "address1": "1 A St", "address2": "",
                                            "city": "New", "state": "NY", "country": "USA", "zip": "1"})
    look = ToolCall("get_user_details", {"user_id": "u1"})
    sandbox.run_calls("retail", codes, [move], episode="ep-a", state=db)
    [a] = sandbox.run_calls("retail", codes, [look], episode="ep-a", state=db)
    [b] = sandbox.run_calls("retail", codes, [look], episode="ep-b", state=db)
    assert json.loads(a.content)["address"]["city"] == "New"
    assert json.loads(b.content)["address"]["city"] == "Old"
    assert db["users"]["u1"]["address"]["city"] == "Old"  # the caller's copy is untouched
    sandbox.end_episode("ep-a")
    [again] = sandbox.run_calls("retail", codes, [look], episode="ep-a", state=db)
    assert json.loads(again.content)["address"]["city"] == "Old"
    sandbox.end_episode("ep-a")
    sandbox.end_episode("ep-b")


def test_fresh_namespace_per_call(sandbox):
    codes = {"count": "n = 0\ndef count():\n    global n\n    n += 1\n    return n"}
    results = sandbox.run_calls("counter", codes, [ToolCall("count", {})] * 3)
    assert [r.content for r in results] == ["1", "1", "1"]  # exec per call, as released


def test_concurrent_callers_and_no_leaks():
    before = set(_children())
    box = Sandbox(workers=2, timeout=2.0)
    out: dict[int, list] = {}

    def worker(i):
        out[i] = [r.content for r in box.run_calls(f"env{i % 3}", {"good": GOOD},
                                                   [ToolCall("good", {"city": "Paris"})] * 3)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(out) == 8 and all(len(v) == 3 for v in out.values())
    assert box.stats["spawned"] == 2 and len(set(_children()) - before) == 2
    box.close()
    assert set(_children()) - before == set()
    with pytest.raises(RuntimeError, match="closed"):
        box.run_calls("env", {"good": GOOD}, [ToolCall("good", {"city": "x"})])
