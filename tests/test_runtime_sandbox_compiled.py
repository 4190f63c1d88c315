"""Strict mode compiles each environment's tool code once in the parent (not once per
episode process): what tool code sees must not change."""

from __future__ import annotations

import os
import textwrap

from toolfeedback.runtime.executor import InProcessExecutor
from toolfeedback.runtime.sandbox import Sandbox
from toolfeedback.types import ToolCall

ISOLATION = os.environ.get("TF_TEST_ISOLATION", "strict")

ANNOTATED = textwrap.dedent("""
    def probe():
        def inner(x: int) -> str:
            return x
        return repr(inner.__annotations__) + repr(probe.__code__.co_filename)
""").strip()
BROKEN = "def probe(:\n    return 1"


def outputs(executor, codes, steps=3):
    return [r.content for _ in range(steps)
            for r in executor.run_calls("env", codes, [ToolCall("probe", {})])]


def test_precompiled_code_behaves_as_a_fresh_compile():
    """No future flag leaks from the parent's modules (``from __future__ import
    annotations`` would turn the annotations into strings); the filename is the release's."""
    with Sandbox(workers=1, isolation=ISOLATION) as box:
        got = outputs(box, {"probe": ANNOTATED})
    assert got == ["{'x': <class 'int'>, 'return': <class 'str'>}'<string>'"] * 3


def test_code_that_does_not_compile_fails_as_released():
    with Sandbox(workers=1, isolation=ISOLATION) as box:
        got = box.run_calls("env", {"probe": BROKEN}, [ToolCall("probe", {})])
    want = InProcessExecutor().run_calls("env", {"probe": BROKEN}, [ToolCall("probe", {})])
    assert [r.content for r in got] == [r.content for r in want] and not got[0].ok


def test_new_code_under_a_reused_key_is_compiled_again():
    with Sandbox(workers=1, isolation=ISOLATION) as box:
        first = box.run_calls("env", {"probe": "def probe():\n    return 'one'"}, [ToolCall("probe", {})])
        second = box.run_calls("env", {"probe": "def probe():\n    return 'two'"}, [ToolCall("probe", {})])
        episode = box.run_calls("env", {"probe": "def probe(data):\n    return str(data['k'])"},
                                [ToolCall("probe", {})], episode="e", state={"k": 3})
    assert [first[0].content, second[0].content, episode[0].content] == ["one", "two", "3"]


def test_an_episode_keeps_its_code_and_state_across_requests():
    """Only the first request of an episode process carries the code; later ones reuse
    it, and a tool never called before is loaded then (a broken one still fails)."""
    codes = {"bump": "def bump(data):\n    data['n'] += 1\n    return str(data['n'])",
             "read": "def read(data):\n    return 'n=' + str(data['n'])", "probe": BROKEN}
    with Sandbox(workers=1, isolation=ISOLATION) as box:
        got = [r.content for name in ("bump", "bump", "read", "probe", "read")
               for r in box.run_calls("env", codes, [ToolCall(name, {})], episode="e", state={"n": 0})]
        fresh = box.run_calls("env", codes, [ToolCall("read", {})], episode="f", state={"n": 0})
    assert got[:3] == ["1", "2", "n=2"] and "invalid syntax" in got[3] and got[4] == "n=2"
    assert fresh[0].content == "n=0"
