"""The sandbox: hostile tool code is contained, the next call of the same step still
scores, stateful episodes are isolated, nothing leaks."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
from pathlib import Path

import pytest

from toolfeedback.runtime.step import run_step
from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.plugins.format_hermes import HermesFormat
from toolfeedback.runtime.sandbox import Sandbox
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
    "introspect": "def introspect():\n    import gc\n    return len(gc.get_objects())",
    "good": GOOD,
}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, timeout=1.0, memory_mb=768, max_output=100_000) as box:
        yield box


def _children(descendants=False):
    """Live sandbox processes whose parent is this test process (or, with ``descendants``,
    whose parent is one of those: a strict template's episode processes)."""
    procs = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"sandbox_worker" in cmd and " Z " not in stat[:80]:
            procs[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = [pid for pid, ppid in procs.items() if ppid == os.getpid()]
    if descendants:
        found += [pid for pid, ppid in procs.items() if ppid in found]
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


SNEAKY_WRITERS = {  # each mutates the database in a way a static check could miss
    "alias": "def alias(data):\n    t = data['t']\n    row = t['k']\n    row['v'] = 'alias'\n    return 'ok'",
    "kwargs": "def kwargs(**kw):\n    kw['data']['t']['k']['v'] = 'kwargs'\n    return 'ok'",
    "getattr_": "def getattr_(data):\n    getattr(data['t']['k'], 'update')(v='getattr')\n    return 'ok'",
    "locals_": "def locals_(data):\n    locals()['data']['t']['k']['v'] = 'locals'\n    return 'ok'",
    "mapped": "def mapped(data):\n    list(map(dict.clear, [data['t']['k']]))\n    return 'ok'",
    "imported": "from operator import setitem\ndef imported(data):\n    setitem(data['t']['k'], 'v', 'op')\n    return 'ok'",
    "renamed": "from operator import setitem as deepcopy\ndef renamed(data):\n    deepcopy(data['t']['k'], 'v', 'op')\n    return 'ok'",
    "frame": "import sys\ndef frame(data):\n    sys._getframe(0).f_locals['data']['t']['k']['v'] = 'frame'\n    return 'ok'",
    "element": "def element(data):\n    rows = []\n    rows.append(data['t']['k'])\n    rows[0]['v'] = 'element'\n    return 'ok'",
    "augmented": "def augmented(data):\n    items = data['t']['k']['items']\n    items += ['x']\n    return 'ok'",
    "evaluated": "def evaluated(data, expr):\n    return eval(expr)",
    "helper": "def helper(data):\n    def poke(row):\n        row['v'] = 'helper'\n    poke(data['t']['k'])\n    return 'ok'",
    "unpickled": "import pickle\ndef unpickled(data, text):\n    pickle.loads(text.encode('latin-1'))\n    return 'ok'",
    "hints": ("from typing import get_type_hints\n_W = " + repr(
        "import sys\nf = sys._getframe()\nwhile f is not None and 'data' not in f.f_locals:\n"
        "    f = f.f_back\nf.f_locals['data']['t']['k']['v'] = 'hints'") + "\n"
        "def hints(data):\n    def f(x: 'exec(_W)'): pass\n    get_type_hints(f)\n    return 'ok'"),
    "read": "import json\nfrom copy import deepcopy\ndef read(data):\n    return json.dumps(deepcopy(data['t']))",
}
# A pickle that runs code which finds the caller's ``data`` through frames and mutates it.
_FRAME_WALK = ("import sys\nf = sys._getframe()\nwhile f is not None and 'data' not in f.f_locals:\n"
               "    f = f.f_back\nf.f_locals['data']['t']['k']['v'] = 'pickle'")


class _Exec:
    def __reduce__(self):
        return (exec, (_FRAME_WALK,))


@pytest.mark.parametrize("isolation,share_tables", [("basic", False), ("basic", True), ("strict", False)])
def test_shared_tables_never_see_a_mutation(isolation, share_tables):
    """By default every episode owns a copy of every table; with ``share_tables`` episodes
    read one shared pristine copy until a tool that may mutate reaches a table. Either way,
    every way of mutating, however indirect, only changes the episode's own copy."""
    db = {"t": {"k": {"v": 1, "items": []}}, "u": {"x": 2}}
    pristine = json.dumps(db["t"])
    read = ToolCall("read", {})
    with Sandbox(workers=1, share_tables=share_tables, isolation=isolation) as box:
        for name in [n for n in SNEAKY_WRITERS if n != "read"]:
            args = {"evaluated": {"expr": "data['t']['k'].update(v='eval')"},
                    "unpickled": {"text": pickle.dumps(_Exec(), protocol=0).decode("latin-1")}}.get(name, {})
            [w, seen] = box.run_calls("sneaky", SNEAKY_WRITERS, [ToolCall(name, args), read],
                                      episode=f"w-{name}", state=db)
            assert w.ok, (name, w.content)
            assert seen.content != pristine, name  # the writer's own episode sees its change
            [other] = box.run_calls("sneaky", SNEAKY_WRITERS, [read], episode=f"r-{name}", state=db)
            assert other.content == pristine, name  # no other episode does
            box.end_episode(f"w-{name}")
            box.end_episode(f"r-{name}")
        if isolation == "basic":
            assert box.stats["spawned"] == 1 and box.stats["retired"] == 0
    assert json.dumps(db["t"]) == pristine


def test_patched_class_of_a_shared_module_retires_the_worker():
    """Basic isolation's tamper check (strict mode needs none: see test_runtime_sandbox_strict)."""
    codes = {"patch": "def patch():\n    import json\n    json.JSONEncoder.encode = lambda self, o: '\"PATCHED\"'\n"
                      "    return 'patched'",
             "use": "def use():\n    import json\n    return json.dumps({'a': 1})"}
    with Sandbox(workers=1, isolation="basic") as box:
        assert box.run_calls("cls", codes, [ToolCall("patch", {})])[0].content == "patched"
        assert box.run_calls("cls", codes, [ToolCall("use", {})])[0].content == '{"a": 1}'
        assert box.stats["retired"] == 1


def test_fresh_namespace_per_call(sandbox):
    codes = {"count": "n = 0\ndef count():\n    global n\n    n += 1\n    return n"}
    results = sandbox.run_calls("counter", codes, [ToolCall("count", {})] * 3)
    assert [r.content for r in results] == ["1", "1", "1"]  # exec per call, as released


@pytest.mark.parametrize("isolation", ["basic", "strict"])
def test_concurrent_callers_and_no_leaks(isolation):
    # Earlier tests' sandboxes may still be finishing (a collected box's workers, a spare in
    # flight): wait until the set of sandbox processes holds still, so that what is left at
    # the end is this box's own.
    import gc

    gc.collect()
    before = set(_children(descendants=True))
    for _ in range(30):
        time.sleep(0.1)
        now = set(_children(descendants=True))
        if now == before:
            break
        before = now
    box = Sandbox(workers=2, timeout=2.0, isolation=isolation)
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
    assert all(v == ['{"city": "Paris", "capital_of": "France"}'] * 3 for v in out.values())
    if isolation == "basic":
        assert box.stats["spawned"] == 2 and len(set(_children()) - before) == 2
    else:  # one process per step (8), plus the template and its spares
        assert box.stats["spawned"] == 8 and len(set(_children()) - before) == 1
    box.close()
    deadline = time.monotonic() + 5
    while set(_children(descendants=True)) - before and time.monotonic() < deadline:
        time.sleep(0.05)  # the template's episode processes die with it (a kill is not a wait)
    assert set(_children(descendants=True)) - before == set()
    with pytest.raises(RuntimeError, match="closed"):
        box.run_calls("env", {"good": GOOD}, [ToolCall("good", {"city": "x"})])


@pytest.mark.parametrize("isolation", ["basic", "strict"])
def test_ordinary_stdlib_use_does_not_retire_workers(isolation):
    codes = {"busy": "import typing, re, decimal, collections.abc, xml.etree.ElementTree as ET\n"
                     "def busy(day):\n    import datetime, statistics, warnings\n"
                     "    warnings.warn('odd', UserWarning)\n"
                     "    d = datetime.datetime.strptime(day, '%Y-%m-%d')\n"
                     "    return {'weekday': d.strftime('%A'), 'mean': statistics.mean([1, 2, 3]),\n"
                     "            'tag': ET.fromstring('<a>x</a>').text, 'dec': str(decimal.Decimal('1.10'))}"}
    with Sandbox(workers=1, isolation=isolation) as box:
        for i in range(40 if isolation == "basic" else 4):  # past the periodic full check
            [r] = box.run_calls("stdlib", codes, [ToolCall("busy", {"day": f"2024-05-{i % 28 + 1:02d}"})])
            assert r.ok, r.content
        assert box.stats["retired"] == 0 and box.stats["crashes"] == 0
        assert box.stats["spawned"] == (1 if isolation == "basic" else 4)


def test_same_key_with_different_code_is_not_stale(sandbox):
    one = {"f": "def f():\n    return 'one'"}
    two = {"f": "def f():\n    return 'two'"}
    assert sandbox.run_calls("reused-key", one, [ToolCall("f", {})])[0].content == "one"
    assert sandbox.run_calls("reused-key", two, [ToolCall("f", {})])[0].content == "two"


def test_episode_lost_when_its_worker_dies():
    codes = {"put": "def put(data, k):\n    data[k] = 1\n    return sorted(data)",
             "die": "def die(data):\n    import os\n    os._exit(3)"}
    with Sandbox(workers=1) as box:
        assert box.run_calls("kv", codes, [ToolCall("put", {"k": "a"})], episode="e", state={})[0].content == '["a"]'
        [dead] = box.run_calls("kv", codes, [ToolCall("die", {})], episode="e", state={})
        assert not dead.ok and "exited with status 3" in dead.content
        [lost] = box.run_calls("kv", codes, [ToolCall("put", {"k": "b"})], episode="e", state={})
        assert not lost.ok and "database was lost" in lost.content
        box.end_episode("e")
        [fresh] = box.run_calls("kv", codes, [ToolCall("put", {"k": "b"})], episode="e", state={})
        assert fresh.content == '["b"]'


@pytest.mark.parametrize("isolation", ["basic", "strict"])
def test_workers_exit_when_the_parent_is_killed(tmp_path, isolation):
    import signal
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\nfrom toolfeedback.runtime.sandbox import Sandbox\nfrom toolfeedback.types import ToolCall\n"
        f"box = Sandbox(workers=1, timeout=60, isolation={isolation!r})\n"
        "codes = {'pid': 'def pid(data):\\n    import os\\n    return os.getpid()',\n"
        "         'spin': 'def spin(data):\\n    while True:\\n        pass'}\n"
        "[r] = box.run_calls('e', codes, [ToolCall('pid', {})], episode='e', state={})\n"
        "print(r.content, flush=True)\n"
        "box.run_calls('e', codes, [ToolCall('spin', {})], episode='e', state={})\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())
    time.sleep(0.3)  # the worker is spinning in tool code now
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{worker_pid}").exists():
        stat = Path(f"/proc/{worker_pid}/stat").read_text() if Path(f"/proc/{worker_pid}/stat").exists() else ""
        if " Z " in stat[:80]:
            break
        time.sleep(0.1)
    stat = Path(f"/proc/{worker_pid}/stat").read_text() if Path(f"/proc/{worker_pid}").exists() else ""
    assert not stat or " Z " in stat[:80], "the orphaned worker is still running"


def test_registered_objects_satisfy_their_base_classes():
    from toolfeedback import create_plugin_manager
    from toolfeedback.plugins import format_hermes, format_llama3, format_openai, rewards_solve, score_verb
    from toolfeedback.contracts import contract_problems
    from toolfeedback.registry import Catalog

    pm = create_plugin_manager(entry_points=False, plugins=[format_hermes, format_llama3, format_openai,
                                                            rewards_solve, score_verb])
    catalog = Catalog(pm)
    assert contract_problems(catalog) == []
    assert catalog.names("tool_formats") == ["hermes", "llama3", "openai"]
    assert catalog.names("rewards") == ["format", "solve_f1", "solve_pr", "solve_precision", "solve_rate"]
    assert "score" in catalog.names("commands")


def test_forged_replies_cannot_leak_into_later_requests():
    forge = ("def forge():\n    import os, json\n    for seq in range(1, 4):\n        for i in range(3):\n"
             "            frame = json.dumps({'ok': True, 'content': 'FORGED', 'seq': seq, 'i': i}).encode()\n"
             "            for fd in range(3, 12):\n                try:\n"
             "                    os.write(fd, len(frame).to_bytes(4, 'big') + frame)\n"
             "                except OSError:\n                    pass\n    return 'done'")
    with Sandbox(workers=1, timeout=2.0) as box:
        box.run_calls("forger", {"forge": forge}, [ToolCall("forge", {})])  # its own result is its business
        for _ in range(3):
            later = box.run_calls("victim", {"good": GOOD}, [ToolCall("good", {"city": "Rome"})] * 3)
            assert [r.content for r in later] == ['{"city": "Rome", "capital_of": "?"}'] * 3


def test_worker_recycled_before_its_cpu_budget_runs_out():
    """Basic isolation recycles a worker; a strict episode process lives one episode."""
    # 2.5 s of a 3 s budget: past the 80% recycling mark, with room for the worker's own
    # start-up CPU (which grows on a loaded machine); the wall timeout is generous for load.
    burn = "def burn():\n    import time\n    end = time.process_time() + 2.5\n    while time.process_time() < end:\n        pass\n    return 'burnt'"
    with Sandbox(workers=1, timeout=60.0, cpu_seconds=3, isolation="basic") as box:
        assert box.run_calls("cpu", {"burn": burn}, [ToolCall("burn", {})])[0].content == "burnt"
        [after] = box.run_calls("cpu", {"good": GOOD}, [ToolCall("good", {"city": "Paris"})])
        assert after.ok and box.stats["retired"] == 1 and box.stats["crashes"] == 0


def test_scratch_files_never_reach_another_environment():
    write = "def write():\n    with open('note.txt', 'w') as f:\n        f.write('secret')\n    return 'ok'"
    read = "def read():\n    with open('note.txt') as f:\n        return f.read()"
    with Sandbox(workers=1, isolation="basic") as box:
        assert box.run_calls("writer", {"write": write}, [ToolCall("write", {})])[0].content == "ok"
        [r] = box.run_calls("reader", {"read": read}, [ToolCall("read", {})])
        assert not r.ok and "No such file" in r.content
        assert box.stats["retired"] == 1
