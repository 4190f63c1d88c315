"""The strict sandbox (parent side): one kernel-confined process per episode.

:class:`StrictSandbox` is what :class:`~toolfeedback.runtime.sandbox.Sandbox` becomes with
``isolation="strict"``. A template process (:mod:`~toolfeedback.runtime.sandbox_template`)
forks one process per episode, and one per stateless step (so every record of ``score``
gets its own); the process is confined by the kernel before tool code runs
(:mod:`~toolfeedback.runtime.sandbox_jail`) and is killed when its episode (or step) ends.
Nothing lives on between episodes: no module, no code cache, no file, no thread, no
signal handler, no descriptor. The parent holds each process's pipes and a pidfd (to
kill it); it only decodes bounded JSON from it, as in the basic design.

Spare processes are forked ahead (``workers`` for stateless steps, one per initial
database in use), so a step rarely waits for a fork.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import marshal
import os
import select
import sys
import signal
import threading
import time
from typing import Any, Mapping, Sequence

from ..types import ToolCall, ToolResult
from .sandbox_basic import BasicSandbox
from .sandbox_process import _Channel, _WorkerGone
from .sandbox_control import _STARTUP, SandboxUnavailable, _Template
from .sandbox_limits import limited

_COMPILED_CACHE = 1024  # environments whose compiled code is kept (LRU)
_COMPILE_MAX = 64 << 10  # larger sources are compiled in the episode process, as before


def _compile_all(codes: Mapping[str, str]) -> dict[str, str]:
    """Each tool's code compiled as the worker compiles it (``compile(source, "<string>",
    "exec")``, no inherited future flags), as base64 of its ``marshal`` form. Compiling runs
    no tool code; a source that does not compile (or is very large) is left out, so the
    episode process compiles it and raises the very same error at the call."""
    out = {}
    for name, source in codes.items():
        if not isinstance(name, str) or not isinstance(source, str) or len(source) > _COMPILE_MAX:
            continue
        try:
            code = compile(source, "<string>", "exec", dont_inherit=True, optimize=0)
        except BaseException:  # noqa: BLE001 - SyntaxError, RecursionError, MemoryError, ...
            continue
        out[name] = binascii.b2a_base64(marshal.dumps(code), newline=False).decode("ascii")
    return out


class _Child(_Channel):
    """One episode process (parent side): its pipes and pidfd."""

    def __init__(self, template: _Template, cid: int, msg: dict, fds: list[int]):
        self.template, self.cid, self.pid = template, cid, msg["pid"]
        self.req_w, self.resp_r, self.pidfd = fds
        os.set_blocking(self.req_w, False)
        os.set_blocking(self.resp_r, False)
        self.fresh, self.buf, self.seq = True, bytearray(), 0
        self.envs: dict[str, set[str]] = {}  # environment -> the tools whose code it has
        self.lock = threading.Lock()
        self.dead = False
        self.refill = None

    def _death(self, default: str) -> str:
        select.select([self.pidfd], [], [], 1.0)  # readable once the process has exited
        status = self.template.status(self.cid, 1.0)
        if status is None:
            return f"the tool process failed: {default}"
        if os.WIFSIGNALED(status):
            try:
                name = signal.Signals(os.WTERMSIG(status)).name
            except ValueError:
                name = str(os.WTERMSIG(status))
            return f"the tool process was killed by signal {name}"
        return f"the tool process exited with status {os.waitstatus_to_exitcode(status)}"

    def run_refill(self) -> None:
        """Fork the spares to replace this process, once (its first request is on its way,
        or it ends without one)."""
        if self.refill is not None:
            self.refill, refill = None, self.refill
            refill()

    def kill(self) -> None:
        self.run_refill()
        if not self.dead:
            self.dead = True
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
            for fd in (self.req_w, self.resp_r, self.pidfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.template.forget(self.cid)


class StrictSandbox(BasicSandbox):
    """``Sandbox(isolation="strict")``: see the module docstring and docs/runtime.md."""

    isolation = "strict"

    def _start(self) -> None:
        self._template: _Template | None = None
        self._subs: dict[str, _Template] = {}  # content key -> its sub-template (LRU order)
        self._contents: dict[str, str] = {}  # state key -> content key (LRU order)
        self._sublock = threading.Lock()
        self._episodes: dict[str, _Child] = {}
        self._jail_report: dict | None = None
        self._tlock = threading.Lock()
        # Tool code compiled once per environment here, not once per episode process (a
        # stateless step is a fresh process): only with this very interpreter (marshal).
        self._marshal = os.path.realpath(self.python) == os.path.realpath(sys.executable)
        self._compiled: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def _codes_text(self, env_key: str, codes: Mapping[str, str], names, sent: set) -> str:
        """The code of the tools ``names`` not sent to this process yet (``sent``, updated)
        as request members, each tool's JSON text encoded once per environment:
        ``compiled``, and ``codes`` with the sources of the tools left to the process to
        compile (a compiled tool's source is never used there). A name ``codes`` lacks is
        never sent: calling it fails there as in the release (``KeyError``)."""
        with self._tlock:
            entry = self._compiled.pop(env_key, None)
        if entry is None:
            compiled = _compile_all(codes) if self._marshal else {}
            entry = ({name: json.dumps(source) for name, source in codes.items()
                      if isinstance(name, str) and name not in compiled},
                     {name: json.dumps(blob) for name, blob in compiled.items()})
        new = [name for name in dict.fromkeys(names) if isinstance(name, str) and name not in sent
               and (name in entry[0] or name in entry[1])]
        sent.update(new)
        sources = ", ".join(f"{json.dumps(name)}: {entry[0][name]}" for name in new if name in entry[0])
        blobs = ", ".join(f"{json.dumps(name)}: {entry[1][name]}" for name in new if name in entry[1])
        with self._tlock:
            self._compiled[env_key] = entry  # most recently used last
            while len(self._compiled) > _COMPILED_CACHE:
                self._compiled.pop(next(iter(self._compiled)))
        return f', "codes": {{{sources}}}, "compiled": {{{blobs}}}'

    def _tpl(self) -> _Template:
        with self._tlock:
            if self._closed:
                raise RuntimeError("the sandbox is closed")
            if self._template is not None and self._template.proc.poll() is not None:
                self._template.close()  # it died (killed from outside): start afresh
                for sub in self._subs.values():
                    sub.close()
                self._template, self._subs = None, {}
                self.stats["crashes"] += 1
            if self._template is None:
                self._template = _Template(self)
            return self._template

    def _template_for(self, state: Any, state_key: str | None) -> _Template:
        """The main template, or the sub-template holding this initial database."""
        main = self._tpl()
        if state_key is None:
            return main
        with self._sublock:  # one sub-template per database, even with concurrent callers
            key = self._content_key(state, state_key)
            with self._tlock:
                sub = self._subs.pop(key, None)
            if sub is not None and sub.proc.poll() is None:
                with self._tlock:
                    self._subs[key] = sub  # most recently used last
                return sub
            if sub is not None:
                sub.close()  # it died: its episodes are lost, a new one takes over
            sub = main.sub_template(key, state)
            with self._tlock:
                self._subs[key] = sub
                old = []
                while len(self._subs) > 8:  # the least recently used database's template goes
                    old.append(self._subs.pop(next(iter(self._subs))))
        for tpl in old:
            tpl.close()
        return sub

    def _content_key(self, state: Any, state_key: str) -> str:
        """The sub-template key of an initial database: a digest of its content, so an
        equal database passed as a new object (a caller that reloads it per batch) reuses
        the sub-template instead of encoding and decoding it again. Equal ``marshal``
        bytes (version 2: no shared references) mean equal values of equal types, so the
        same JSON; a value marshal cannot encode is keyed by identity, as before."""
        key = self._contents.pop(state_key, None)
        if key is None:
            try:
                key = "db-" + hashlib.blake2b(marshal.dumps(state, 2), digest_size=16).hexdigest()
            except (ValueError, TypeError, RecursionError, MemoryError):
                key = state_key
        self._contents[state_key] = key  # most recently used last
        while len(self._contents) > 64:
            self._contents.pop(next(iter(self._contents)))
        return key

    def _spawn(self, state: Any, state_key: str | None) -> _Child:
        """A started (maybe still confining itself) episode process for ``state_key``."""
        tpl = self._template_for(state, state_key)
        want = self.workers if state_key is None else 1
        with self._tlock:
            cid = tpl.spares.pop(0) if tpl.spares else None
        if cid is None:
            cid = tpl.request()
        msg, fds = tpl.collect(cid)
        self.stats["spawned"] += 1

        def refill():
            with self._tlock:
                while len(tpl.spares) < want:
                    tpl.spares.append(tpl.request())

        child = _Child(tpl, cid, msg, fds)
        child.refill = refill  # called once its first request is on its way (or at its end)
        return child

    def warm(self) -> None:
        """Start the template and fork the spare processes now."""
        self._spawn(None, None).kill()

    def run_calls(self, env_key: str, codes: Mapping[str, str], calls: Sequence[ToolCall], *,
                  episode: str | None = None, state: Any = None,
                  timeout: float | None = None) -> list[ToolResult]:
        """Execute ``calls`` in order (one request per step) in the episode's own process."""
        return limited(self, env_key, codes, calls, episode, state, timeout, self._run_strict)

    def _has_episode(self, episode: str) -> bool:
        return episode in self._episodes

    def _run_strict(self, env_key, codes, calls, episode, state, limit, step) -> list[ToolResult]:
        """One attempt on the episode's process (a new one for a stateless step, killed after
        it); a process that dies marks its episode lost."""
        child = self._episodes.get(episode) if episode is not None else None
        if child is None:
            child = self._spawn(state, self._state_key(state) if episode is not None else None)
            if episode is not None:
                self._episodes[episode] = child
        try:
            with child.lock:
                done, gone = self._exchange(child, env_key, codes, calls, episode, limit, step)
        finally:
            if episode is None:
                child.kill()  # a stateless step's process ends with the step
        if gone and episode is not None:
            child.kill()
            self._episodes.pop(episode, None)
            self._lost.add(episode)
        return done

    def _exchange(self, child: _Child, env_key, codes, calls, episode, limit, step):
        """One request: returns (results, whether the process is gone)."""
        try:
            payload = json.dumps([[c.name, c.arguments] for c in calls])
        except (TypeError, ValueError) as exc:
            return [self._error(c, f"arguments are not JSON values ({exc})") for c in calls], False
        request: dict[str, Any] = {"op": "run", "env": env_key, "episode": episode,
                                   "max_output": self.max_output, "step_output": step.output_left,
                                   "over": step.over_text}
        sent = child.envs.get(env_key)
        names = [c.name for c in calls]
        code_text = None
        if sent is None or any(name not in sent for name in names if isinstance(name, str)):
            code_text = self._codes_text(env_key, codes, names, child.envs.setdefault(env_key, set()))
        results: list[ToolResult] = []
        self.stats["requests"] += 1
        child.seq += 1
        request["seq"] = child.seq
        try:
            deadline, bound = step.deadline(limit)
            # A fresh process reads its first request only once confined: the request waits
            # in the pipe meanwhile, so nobody waits for a round trip after the hello.
            child.send(request, max(deadline + 5.0, time.monotonic() + _STARTUP) if child.fresh
                       else deadline + 5.0, payload, code_text)
            child.run_refill()  # the next spare is forked while this one works
            if child.fresh:
                hello = child.recv(time.monotonic() + _STARTUP, 1 << 14)
                if not isinstance(hello, dict) or hello.get("ready") is not True:
                    report = hello.get("jail") if isinstance(hello, dict) else None
                    raise SandboxUnavailable(f"the kernel refused to confine the tool process: {report}")
                self._jail_report = hello.get("jail")
                child.fresh = False
            while len(results) < len(calls):
                call = calls[len(results)]
                deadline, bound = step.deadline(limit)
                reply = child.recv(deadline, step.max_bytes(self.max_output))
                if not isinstance(reply, dict) or reply.get("seq") != child.seq:
                    raise _WorkerGone("the tool process sent a malformed reply")
                if "need" in reply:
                    if code_text is not None:
                        raise _WorkerGone("the tool process lost its environment")
                    code_text = self._codes_text(env_key, codes, names, child.envs.setdefault(env_key, set()))
                    child.send(request, deadline + 5.0, payload, code_text)
                    continue
                content = reply.get("content")
                if not isinstance(content, str) or reply.get("i") != len(results):
                    raise _WorkerGone("the tool process sent a malformed reply")
                results.append(step.result(call, reply.get("ok") is True, content))
        except _WorkerGone as gone:
            call = calls[len(results)]
            if gone.timed_out and bound:
                results.append(self._error(call, step.time_text))
            elif gone.timed_out:
                self.stats["timeouts"] += 1
                results.append(self._timeout(call, codes, limit, episode))
            else:
                self.stats["crashes"] += 1
                results.append(self._error(call, gone.reason))
            child.kill()
            return results, True
        return results, False

    def end_episode(self, episode: str) -> None:
        """End an episode: its process is killed, its scratch and state vanish with it."""
        with self._cond:
            self._lost.discard(episode)
        child = self._episodes.pop(episode, None)
        if child is not None:
            with child.lock:
                child.kill()

    def jail_report(self) -> dict:
        """What the kernel enforced on the last episode process (one is started if none)."""
        if self._jail_report is None:
            self.run_calls("probe", {"probe": "def probe():\n    return 1"}, [ToolCall("probe", {})])
        return dict(self._jail_report or {}, template=self._tpl().report)

    def close(self) -> None:
        """Kill every episode process and the template; remove every scratch directory."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for child in list(self._episodes.values()):
            child.kill()
        self._episodes.clear()
        with self._tlock:
            template, self._template = self._template, None
            subs, self._subs = list(self._subs.values()), {}
        for sub in subs:
            sub.close()
        if template is not None:
            template.close()
