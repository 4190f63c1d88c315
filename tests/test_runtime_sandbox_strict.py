"""Strict isolation: hostile tool code, one probe per escape class of the basic design.

Every probe here escaped the basic design (a persistent worker pool with an audit hook);
``TF_TEST_ISOLATION=basic python -m pytest tests/test_runtime_sandbox_strict.py`` shows it
(those runs fail). In the default strict mode each must be contained by the kernel or by
the one-process-per-episode design. These tests never skip: a kernel without Landlock or
seccomp makes ``Sandbox(isolation="strict")`` raise, so they fail.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from toolfeedback.runtime.sandbox import Sandbox
from toolfeedback.types import ToolCall

ISOLATION = os.environ.get("TF_TEST_ISOLATION", "strict")


def box(**kw):
    kw.setdefault("workers", 1)
    kw.setdefault("timeout", 5.0)
    return Sandbox(isolation=ISOLATION, **kw)


def code(src: str) -> str:
    return textwrap.dedent(src).strip("\n")


def one(sb, name, src, args=None, **kw):
    [r] = sb.run_calls(f"env-{name}", {name: code(src)}, [ToolCall(name, args or {})], **kw)
    return r


def test_kernel_confines_every_episode_process():
    with box() as sb:
        report = sb.jail_report()
    assert report["seccomp"] is True and isinstance(report["landlock"], dict)
    assert report["landlock"]["abi"] >= 1
    for feature in ("disk_quota", "thread_limit", "capabilities_dropped"):
        assert report[feature] is True, (feature, report[feature])
    assert report["template"]["netns"] is True


def test_audit_hook_switched_off_through_module_globals(tmp_path):
    """Rebinding the worker's own globals turns its audit hook into a no-op; the kernel
    still refuses processes, writes outside scratch and TCP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    target = tmp_path / "pwned"
    src = f"""
    def unhook():
        import sys, os
        g = sys.modules['__main__'].__dict__
        g['_BLOCKED_EVENTS'] = ('nothing.',)
        g['_WRITE_FLAGS'] = 0
        g['_PATH_EVENTS'] = frozenset()
        g['_DENIED_IMPORTS'] = frozenset()
        out = []
        try:
            out.append(os.system('touch {target}-system'))
        except Exception as e:
            out.append(type(e).__name__)
        try:
            with open('{target}', 'w') as f:
                f.write('x')
            out.append('wrote')
        except Exception as e:
            out.append(type(e).__name__)
        try:
            import socket
            socket.create_connection(('127.0.0.1', {port}), timeout=1)
            out.append('connected')
        except Exception as e:
            out.append(type(e).__name__)
        return out
    """
    with box() as sb:
        r = one(sb, "unhook", src)
    try:
        conn, _ = listener.accept()
        conn.close()
        connected = True
    except OSError:
        connected = False
    finally:
        listener.close()
    assert not target.exists() and not (tmp_path / "pwned-system").exists()
    assert not connected and "connected" not in r.content and "wrote" not in r.content


def test_other_episodes_unreachable_through_gc():
    """gc (reachable from the worker's own objects) finds nothing of another episode."""
    secret = {"vault": {"code": "SECRET-OF-EPISODE-A"}}
    other = {"vault": {"code": "nothing"}}
    scan = """
    def scan(data):
        import sys
        gc = sys.modules['__main__']._gc_freeze.__self__
        gc.unfreeze()  # frozen objects are not listed otherwise
        needle = 'SECRET-OF-' + 'EPISODE-A'
        return any(needle in repr(o) for o in gc.get_objects() if isinstance(o, (dict, list)))
    """
    read = "def read(data):\n    return data['vault']['code']"
    with box() as sb:
        codes = {"scan": code(scan), "read": read}
        assert sb.run_calls("vault", codes, [ToolCall("read", {})], episode="a", state=secret)[0].content \
            == "SECRET-OF-EPISODE-A"
        [r] = sb.run_calls("vault", codes, [ToolCall("scan", {})], episode="b", state=other)
        sb.end_episode("a")
        sb.end_episode("b")
    assert r.content == "False", r.content


def _proc_status(pid: int) -> tuple[int, set]:
    return os.getpriority(os.PRIO_PROCESS, pid), os.sched_getaffinity(pid)


def test_parent_cannot_be_signalled_reniced_or_pinned():
    me = os.getpid()
    nice, cpus = _proc_status(me)
    src = f"""
    def poke():
        import os, signal
        out = {{}}
        for name, f in [('setpriority', lambda: os.setpriority(os.PRIO_PROCESS, {me}, {nice})),
                        ('affinity', lambda: os.sched_setaffinity({me}, {sorted(cpus)!r})),
                        ('pidfd', lambda: signal.pidfd_send_signal(os.pidfd_open({me}), 0))]:
            try:
                f()
                out[name] = 'done'
            except Exception as e:
                out[name] = type(e).__name__
        return out
    """
    with box() as sb:
        r = one(sb, "poke", src)
    out = json.loads(r.content)
    assert out["setpriority"] != "done" and out["affinity"] != "done" and out["pidfd"] != "done", out
    assert _proc_status(me) == (nice, cpus)


def test_dir_fd_and_fd_based_writes_outside_scratch(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    victim.chmod(0o600)
    src = f"""
    def dirfd():
        import os
        out = []
        d = os.open({str(tmp_path)!r}, os.O_PATH)
        for name, f in [('create', lambda: os.open('pwned', os.O_WRONLY | os.O_CREAT, dir_fd=d)),
                        ('mkdir', lambda: os.mkdir('pwned-dir', dir_fd=d)),
                        ('chmod', lambda: os.chmod('victim', 0o777, dir_fd=d)),
                        ('unlink', lambda: os.unlink('victim', dir_fd=d)),
                        ('fchmod', lambda: os.fchmod(os.open({str(victim)!r}, os.O_RDONLY), 0o777))]:
            try:
                f()
                out.append(name)
            except Exception as e:
                out.append(type(e).__name__)
        return out
    """
    with box() as sb:
        one(sb, "dirfd", src)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned-dir").exists()
    assert victim.read_text() == "keep" and stat.S_IMODE(victim.stat().st_mode) == 0o600


PARENT_SCRIPT = """
import json, os, sys
from toolfeedback.runtime.sandbox import Sandbox
from toolfeedback.types import ToolCall
src = '''def peek(pid, path):
    out = {}
    for name in ('environ', 'cmdline', 'mem'):
        try:
            with open(f'/proc/{pid}/{name}', 'rb') as f:
                out[name] = f.read(4096).decode('latin-1')
        except Exception as e:
            out[name] = type(e).__name__
    try:
        out['file'] = open(path).read()
    except Exception as e:
        out['file'] = type(e).__name__
    import os
    out['env'] = dict(os.environ)
    return out
'''
box = Sandbox(workers=1, isolation=sys.argv[1])
[r] = box.run_calls('peek', {'peek': src}, [ToolCall('peek', {'pid': os.getpid(), 'path': sys.argv[2]})])
print(r.content)
box.close()
"""


def test_no_secrets_from_the_parent(tmp_path):
    """The parent's environment (an API key), its command line (another record's answer),
    its memory and any file outside the allow-list stay out of reach."""
    secret_file = tmp_path / "key.txt"
    secret_file.write_text("FILE-SECRET-77")
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    env = dict(os.environ, TF_API_KEY="sk-ENV-SECRET-99")
    out = subprocess.run([sys.executable, str(script), ISOLATION, str(secret_file), "ANSWER-OF-RECORD-42"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for secret in ("sk-ENV-SECRET-99", "ANSWER-OF-RECORD-42", "FILE-SECRET-77"):
        assert secret not in text, secret
    result = json.loads(text.split(": ", 1)[1] if text.startswith("an error") else text)
    assert result["env"] == {}


CROSSING = {  # (planted by record A, observed by record B, B's honest output)
    "main_globals": ("def a():\n    import sys\n    sys.modules['__main__']._serialize = lambda v: 'FORGED'\n"
                     "    return 'planted'", "def b():\n    return 'honest'", "honest"),
    "code_swap": ("def a():\n    import json\n    json.dumps.__code__ = (lambda *x, **k: 'FORGED').__code__\n"
                  "    return 'planted'", "def b():\n    import json\n    return json.dumps([1])", "[1]"),
    "pristine_builtins": ("def a():\n    import sys\n    f = sys._getframe(1)\n"
                          "    while f is not None and 'pristine_builtins' not in f.f_locals:\n        f = f.f_back\n"
                          "    f.f_locals['pristine_builtins']['sorted'] = lambda *x, **k: 'FORGED'\n"
                          "    return 'planted'", "def b():\n    return sorted([2, 1])", "[1, 2]"),
    "signal_alarm": ("def a():\n    import signal\n    def h(*_):\n        raise Exception('FORGED')\n"
                     "    signal.signal(signal.SIGALRM, h)\n    signal.setitimer(signal.ITIMER_REAL, 0.3)\n"
                     "    return 'planted'", "def b():\n    import time\n    time.sleep(0.8)\n    return 'honest'",
                     "honest"),
    "scratch_file": ("def a():\n    import os\n    st = os.stat('.')\n    open('.note', 'w').write('FORGED')\n"
                     "    try:\n        os.utime('.', ns=(st.st_atime_ns, st.st_mtime_ns))\n"
                     "    except OSError:\n        pass\n    return 'planted'",
                     "def b():\n    try:\n        return open('.note').read()\n    except OSError:\n"
                     "        return 'honest'", "honest"),
    "open_fd": ("def a():\n    import os\n    r, w = os.pipe()\n    os.write(w, b'FORGED')\n"
                "    import sys\n    sys.modules['__main__'].__dict__.setdefault('_kept', []).append((r, w))\n"
                "    return 'planted'",
                "def b():\n    import os\n    for fd in range(3, 64):\n        try:\n"
                "            os.set_blocking(fd, False)\n            data = os.read(fd, 6)\n"
                "            if data == b'FORGED':\n                return 'FORGED'\n"
                "        except OSError:\n            pass\n    return 'honest'", "honest"),
}


@pytest.mark.parametrize("vector", sorted(CROSSING))
def test_nothing_crosses_records(vector):
    plant, observe, honest = CROSSING[vector]
    with box() as sb:
        assert sb.run_calls("record-a", {"a": plant}, [ToolCall("a", {})])[0].content == "planted"
        [r] = sb.run_calls("record-b", {"b": observe}, [ToolCall("b", {})])
    assert r.ok and r.content == honest, r.content


def test_watchdog_cannot_be_disabled(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        "from toolfeedback.runtime.sandbox import Sandbox\nfrom toolfeedback.types import ToolCall\n"
        f"box = Sandbox(workers=1, timeout=60, isolation={ISOLATION!r})\n"
        "codes = {'pid': 'def pid(data):\\n    import os\\n    return os.getpid()',\n"
        "         'spin': 'def spin(data):\\n    import sys\\n    g = sys.modules[\"__main__\"].__dict__\\n"
        "    g[\"os\"] = None\\n    g[\"time\"] = None\\n    while True:\\n        pass'}\n"
        "[r] = box.run_calls('e', codes, [ToolCall('pid', {})], episode='e', state={})\n"
        "print(r.content, flush=True)\n"
        "box.run_calls('e', codes, [ToolCall('spin', {})], episode='e', state={})\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    threading.Event().wait(1.0)  # the watchdog is switched off and the tool spins
    parent.kill()
    parent.wait()
    for _ in range(50):
        try:
            state = open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        threading.Event().wait(0.1)
    else:
        os.kill(worker, 9)
        pytest.fail("the worker outlived its killed parent")


def test_calls_per_step_are_limited():
    with box(max_calls=8) as sb:
        results = sb.run_calls("many", {"f": "def f():\n    return 'ran'"}, [ToolCall("f", {})] * 40)
    assert [r.content for r in results[:8]] == ["ran"] * 8
    assert all(not r.ok and "more than 8 tool calls" in r.content for r in results[8:])


def test_wall_time_per_step_is_limited():
    nap = "def nap():\n    import time\n    time.sleep(0.3)\n    return 'slept'"
    with box(timeout=2.0, step_timeout=1.0) as sb:
        results = sb.run_calls("naps", {"nap": nap}, [ToolCall("nap", {})] * 12)
    slept = sum(r.content == "slept" for r in results)
    assert slept <= 4
    assert sum("used up its 1 seconds of tool time" in r.content for r in results) == 12 - slept


def test_output_per_step_is_limited():
    big = "def big():\n    return 'x' * 200_000"
    with box(max_step_output=1_000_000) as sb:
        results = sb.run_calls("big", {"big": big}, [ToolCall("big", {})] * 40)
    assert sum(len(r.content) for r in results) < 1_100_000
    assert results[-1].content.endswith("this call was not run") and not results[-1].ok


def test_scratch_disk_quota():
    fill = ("def fill():\n    chunk = b'x' * (1 << 20)\n    for i in range(40):\n"
            "        with open(f'f{i}', 'wb') as f:\n            f.write(chunk)\n    return 'filled'")
    with box(disk_mb=8) as sb:
        r = one(sb, "fill", fill)
    assert not r.ok and "No space left on device" in r.content


def test_threads_and_files_are_limited():
    threads = ("def threads():\n    import threading, time\n    ts = []\n    for _ in range(20):\n"
               "        t = threading.Thread(target=time.sleep, args=(0.3,))\n        t.start()\n"
               "        ts.append(t)\n    return len(ts)")
    files = "def files():\n    return len([open(f'n{i}', 'w') for i in range(200)])"
    with box(threads=4, nofile=32) as sb:
        t = one(sb, "threads", threads)
        f = one(sb, "files", files)
    assert not t.ok and "can't start new thread" in t.content
    assert not f.ok and "Too many open files" in f.content


def test_strict_refuses_a_kernel_without_landlock(monkeypatch, tmp_path, capsys):
    from toolfeedback.cli import main
    from toolfeedback.errors import ConfigError
    from toolfeedback.runtime import sandbox_limits

    monkeypatch.setattr(sandbox_limits, "kernel_ready", lambda: (False, "this kernel has no Landlock"))
    with pytest.raises(ConfigError, match="no Landlock"):
        Sandbox(isolation="strict")
    with pytest.warns(sandbox_limits.IsolationWarning, match="falls back to --isolation basic"):
        fallback = Sandbox(isolation="auto")
    assert fallback.isolation == "basic"
    fallback.close()
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"messages": [], "tools": "[]", "codes": "{}", "unsolved_set": "{}",
                               "solve_rate": 0.0, "answer": "", "response": "hi"}) + "\n")
    monkeypatch.setitem(sandbox_limits.DEFAULT, "isolation", "auto")
    assert main(["score", "--input", str(src), "--out", str(tmp_path / "o.jsonl"), "--reward", "solve_f1",
                 "--isolation", "strict"]) == 2
    assert "--isolation strict: this kernel has no Landlock" in capsys.readouterr().err


def test_basic_isolation_warns():
    from toolfeedback.runtime import sandbox_limits

    with pytest.warns(sandbox_limits.IsolationWarning, match="no kernel isolation"):
        sb = Sandbox(isolation="basic")
    assert sb.isolation == "basic"
    sb.close()


def test_doctor_reports_what_the_kernel_enforces(capsys):
    from toolfeedback.cli import main

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["strict_available"] is True and report["seccomp"] is True
    assert report["template"]["features"]["landlock_abi"] >= 1
