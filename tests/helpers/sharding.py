"""Pieces of the sharded-rollout tests: servers that answer like a tool-using model, the
rollout command line, and finding (to kill) the process that writes a shard's file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers.replay_server import ReplayServer, chat_reply
from helpers.rollout_envs import solver
from toolfeedback.generation import ChatRequest


def answer(body):
    """The right next hermes-format reply for a rollout_envs environment."""
    return chat_reply(solver(ChatRequest(tuple(body["messages"]), tuple(body.get("tools", ())))))


def solver_server(on_request=None) -> ReplayServer:
    """A server answering with :func:`answer`; ``on_request(n, body)`` runs first (n from 1)."""
    count = [0]

    def reply(body):
        count[0] += 1
        if on_request is not None:
            on_request(count[0], body)
        return answer(body)

    return ReplayServer(reply)


def country(body) -> str:
    """The environment a request belongs to (its user question's last word)."""
    question = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return question.rsplit(" ", 1)[1].rstrip("?")


def rollout_args(envs: Path, out: Path, *urls: str, extra=()) -> list[str]:
    """docs/scaling.md's rollout over OpenAI-compatible servers, one shard per server."""
    args = ["rollout", "--backend", "openai", "--model", "served", "--envs", str(envs),
            "--out", str(out), "--samples-out", str(out.with_name("samples.jsonl")),
            "--batch-size", "1", "--workers", "1", "--quiet", *extra]
    for url in urls:
        args += ["--base-url", url]
    return args


def writers_of(path: Path) -> list[int]:
    """Pids of the processes that hold ``path`` open (Linux /proc)."""
    target, pids = str(path.resolve()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    pids.append(int(pid))
                    break
            except OSError:
                continue
    return [p for p in pids if p != os.getpid()]


def keys(path: Path) -> list[tuple[str, int]]:
    """(env_id, sample) of every trajectory line of ``path``."""
    return [(r["env_id"], r["sample"]) for r in map(json.loads, path.read_text().splitlines())]
