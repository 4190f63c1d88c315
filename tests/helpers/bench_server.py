"""A server that answers benchmark questions (half of them right) for sharded-eval tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from helpers.replay_server import ReplayServer, chat_reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _half(text: str) -> bool:
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


def rotbench_server() -> ReplayServer:
    """RoTBench: the gold answer of the clean file's questions for about half of them,
    a wrong one otherwise: a report with fractions, the same on every run."""
    from toolfeedback.contrib import bench_rotbench

    gold = {s["messages"][-1]["content"]: s["answer"][0]
            for s in bench_rotbench.load(FIXTURES / "rotbench", ("clean",))}

    def reply(body):
        last = body["messages"][-1]["content"]
        right = gold.get(last)
        return chat_reply(right if right is not None and _half(json.dumps(body["messages"]))
                          else "Action: nothing\nAction Input: {}")

    return ReplayServer(reply)
