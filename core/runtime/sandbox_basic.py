"""The basic sandbox: untrusted tool code in a pool of persistent, limited worker processes.

:class:`BasicSandbox` (``Sandbox(isolation="basic")``, and the base of
:class:`~toolfeedback.runtime.sandbox_strict.StrictSandbox`) satisfies :class:`~toolfeedback.runtime.executor_interface.Executor`. Each worker is a
fresh ``python -I -S`` running :mod:`toolfeedback.runtime.sandbox_worker` (stdlib only) under
resource limits and an audit hook; see that module for what is refused inside. This
side enforces what a worker cannot be trusted with:

- a wall-clock timeout per call (a worker that overruns is killed and replaced; the call
  gets the release's timeout text, the next call of the step runs on a fresh worker);
- a worker that dies (``os._exit``, segfault, memory kill) is reaped and replaced, and the
  call gets an error result; nothing is left behind (pipes closed, processes reaped,
  scratch directories removed);
- replies are length-prefixed JSON read without blocking, bounded in size; anything
  malformed counts as a crash (:mod:`~toolfeedback.runtime.sandbox_process` holds that
  framing and the parent's side of one worker process).

The calls of one step go in one request; each environment's code is sent once per worker
and compiled there once; calls of one environment prefer the same worker; an episode's
database (stateful, tau-bench style tools) lives in one worker from first use to
:meth:`BasicSandbox.end_episode`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import zlib
from typing import Any, Mapping, Sequence

from .executor_interface import DEFAULT_TIMEOUT, error_text
from ..types import ToolCall, ToolResult
from .sandbox_process import _STARTUP_GRACE, _Slot, _Worker, _WorkerGone

# Environments whose code digest is cached by identity (each entry keeps that codes dict
# alive): enough for every episode of a large rollout batch, small enough that memory
# stays flat however many environments stream through.
_CODES_CACHE = 1024


class BasicSandbox:
    """A pool of sandboxed worker processes that run tool calls (an ``Executor``).

    ``workers``: processes in the pool; ``timeout``: default wall-clock seconds per call;
    ``memory_mb``: address-space limit per worker; ``cpu_seconds``: CPU time a worker may
    use in its life before it is killed (replaced on next use); ``max_output``: characters
    of a result kept (longer ones are cut and marked); ``file_size_mb``: largest file a
    tool may write in its scratch directory; ``release_timeout_text``: word timeouts as
    the release's ``func_timeout`` does (it quotes the arguments and the code, so an
    answer in the code can hit, as it did in the release); ``share_tables``: let episodes
    share a worker's pristine database tables with tools that a static reading of their
    code finds read-only (faster on tau-bench style tools, but it trusts that reading of
    untrusted code; off by default, so every episode gets its own copy of every table).

    ``isolation``: ``"strict"`` (one kernel-confined process per episode, see
    :mod:`~toolfeedback.runtime.sandbox_strict`; refuses to start on a kernel without
    Landlock and seccomp), ``"basic"`` (this pool of persistent workers, Python-level
    checks only; warns) or ``"auto"`` (strict where the kernel allows it; the default,
    set process-wide by ``--isolation``). Per step: at most ``max_calls`` calls,
    ``step_timeout`` seconds and ``max_step_output`` characters of output in all. Per
    strict episode: ``disk_mb`` of scratch in at most ``max_files`` files, ``nofile``
    descriptors, ``threads`` tasks, no child process. Thread-safe; a context manager.
    """

    _LOST = "the episode's database was lost when its tool process was replaced"
    isolation = "basic"

    def __init__(self, workers: int = 2, timeout: float = DEFAULT_TIMEOUT, *, memory_mb: int = 2048,
                 cpu_seconds: int = 3600, max_output: int = 1_000_000, file_size_mb: int = 64,
                 scratch_root: str | None = None, site_packages: bool = False,
                 release_timeout_text: bool = True, python: str | None = None,
                 share_tables: bool = False, isolation: str | None = None, max_calls: int = 32,
                 step_timeout: float = 60.0, max_step_output: int = 1_000_000, disk_mb: int = 64,
                 max_files: int = 1024, nofile: int = 64, threads: int = 8):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.timeout = float(timeout)
        self.memory_mb, self.cpu_seconds = int(memory_mb), int(cpu_seconds)
        self.max_output, self.file_size_mb = int(max_output), int(file_size_mb)
        self.scratch_root, self.site_packages = scratch_root, site_packages
        self.release_timeout_text = release_timeout_text
        self.share_tables = bool(share_tables)
        self.python = python or sys.executable
        self.workers = int(workers)
        self.max_calls, self.step_timeout = int(max_calls), float(step_timeout)
        self.max_step_output = int(max_step_output)
        self.limits = {"memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds,
                       "file_size_mb": self.file_size_mb, "disk_mb": int(disk_mb),
                       "files": int(max_files), "nofile": int(nofile), "threads": int(threads)}
        self._slots = [_Slot(i) for i in range(workers)]
        self._cond = threading.Condition()
        self._owner: dict[str, int] = {}  # episode -> slot index
        self._lost: set[str] = set()  # episodes whose worker died
        self._states: dict[int, tuple[str, Any]] = {}  # id(state) -> (key, state), kept alive
        self._codes: dict[str, tuple[Any, str]] = {}  # env key -> (codes object, effective key)
        self._state_count = 0
        self._closed = False
        self.stats = {"spawned": 0, "timeouts": 0, "crashes": 0, "retired": 0, "requests": 0}
        self._start()

    def _start(self) -> None:
        """Mode-specific set-up (the strict subclass starts no process until first use)."""

    # ------------------------------------------------------------------ pool

    def _acquire(self, env_key: str, episode: str | None) -> _Slot:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the sandbox is closed")
                if episode is not None and episode in self._owner:
                    slot = self._slots[self._owner[episode]]
                    if not slot.busy:
                        break
                else:
                    preferred = self._slots[zlib.crc32(env_key.encode("utf-8", "replace")) % len(self._slots)]
                    slot = preferred if not preferred.busy else next(
                        (s for s in self._slots if not s.busy), None)
                    if slot is not None:
                        break
                self._cond.wait()
            slot.busy = True
            return slot

    def _release(self, slot: _Slot) -> None:
        with self._cond:
            slot.busy = False
            self._cond.notify_all()

    def _worker(self, slot: _Slot) -> _Worker:
        if slot.worker is None or slot.worker.proc.poll() is not None:
            if slot.worker is not None:
                self._retire(slot, "died while idle")
            if self._closed:
                raise RuntimeError("the sandbox is closed")
            slot.worker = _Worker(self)
            self.stats["spawned"] += 1
            if self._closed:  # close() ran while it started and may have missed it
                slot.worker.kill()
                raise RuntimeError("the sandbox is closed")
        return slot.worker

    def _retire(self, slot: _Slot, why: str) -> None:
        worker, slot.worker = slot.worker, None
        if worker is None:
            return
        worker.kill()
        with self._cond:
            for episode in worker.episodes:
                if self._owner.get(episode) == slot.index:
                    self._lost.add(episode)

    # ------------------------------------------------------------------ calls

    def run_calls(self, env_key: str, codes: Mapping[str, str], calls: Sequence[ToolCall], *,
                  episode: str | None = None, state: Any = None,
                  timeout: float | None = None) -> list[ToolResult]:
        """Execute ``calls`` in order (one request per step) and return one result each."""
        from .sandbox_limits import limited

        return limited(self, env_key, codes, calls, episode, state, timeout, self._run_basic)

    def _has_episode(self, episode: str) -> bool:
        return episode in self._owner

    def _run_basic(self, env_key, codes, calls, episode, state, limit, step) -> list[ToolResult]:
        """One attempt: the calls one worker gets through (a dead worker marks its episode lost)."""
        slot = self._acquire(env_key, episode)
        try:
            return self._run_on(slot, env_key, codes, calls, episode, state, limit, step)
        finally:
            self._release(slot)

    def _run_on(self, slot: _Slot, env_key: str, codes: Mapping[str, str], calls: list[ToolCall],
                episode: str | None, state: Any, limit: float, step) -> list[ToolResult]:
        """Run as many of ``calls`` as this worker gets through; a failure ends the request
        with that call's error result (the caller resumes on a fresh worker)."""
        worker = self._worker(slot)
        try:
            payload = json.dumps([[c.name, c.arguments] for c in calls])  # encoded once
        except (TypeError, ValueError) as exc:
            return [self._error(c, f"arguments are not JSON values ({exc})") for c in calls]
        request: dict[str, Any] = {"op": "run", "env": env_key,
                                   "max_output": self.max_output, "episode": episode}
        if env_key not in worker.envs:
            request["codes"] = dict(codes)
        state_key = None
        if episode is not None:
            state_key = request["state_key"] = self._state_key(state)
            if episode not in worker.episodes and state_key not in worker.states:
                request["state"] = state
        results: list[ToolResult] = []
        bound = False
        self.stats["requests"] += 1
        worker.seq += 1
        request["seq"] = worker.seq
        try:
            if worker.fresh:  # only the interpreter's start-up gets the grace period
                if worker.recv(time.monotonic() + _STARTUP_GRACE, 1 << 10) != {"ready": True}:
                    raise _WorkerGone("the tool process did not start")
                worker.fresh = False
            elif worker.stale():  # a tool forged replies earlier: never let them reach this request
                self.stats["retired"] += 1
                self._retire(slot, "the tool process sent replies nobody asked for")
                return results
            worker.send(request, time.monotonic() + limit + 5.0, payload)
            resent = False
            while len(results) < len(calls):
                call = calls[len(results)]
                deadline, bound = step.deadline(limit)
                reply = worker.recv(deadline, self.max_output * 6 + (1 << 16))
                if isinstance(reply, dict) and isinstance(reply.get("seq"), int) \
                        and reply["seq"] < worker.seq and not results:
                    self.stats["retired"] += 1  # a stale (forged-over) reply: rerun elsewhere
                    self._retire(slot, "the tool process sent a stale reply")
                    return results
                if not isinstance(reply, dict) or reply.get("seq") != worker.seq:
                    raise _WorkerGone("the tool process sent a malformed reply")
                if "retired" in reply:  # tainted by an earlier request: replace, then retry
                    self.stats["retired"] += 1
                    self._retire(slot, str(reply["retired"]))
                    return results
                if "need" in reply:
                    if resent:
                        raise _WorkerGone("the tool process lost its environment")
                    request["codes"] = dict(codes)
                    if episode is not None:
                        request["state"] = state
                        worker.states.discard(state_key)
                    worker.send(request, time.monotonic() + limit + 5.0, payload)
                    resent = True
                    continue
                content = reply.get("content")
                if not isinstance(content, str) or reply.get("i") != len(results):
                    raise _WorkerGone("the tool process sent a malformed reply")
                worker.envs.add(env_key)
                if episode is not None:
                    worker.episodes.add(episode)
                    worker.states.add(state_key)
                    with self._cond:
                        self._owner[episode] = slot.index
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
            self._retire(slot, gone.reason)
        return results

    def _effective_key(self, env_key: str, codes: Mapping[str, str]) -> str:
        """``env_key`` plus a digest of the code, so a key reused with different code never
        runs stale compiled code (hashed only when a new ``codes`` object comes in)."""
        with self._cond:
            entry = self._codes.get(env_key)
            if entry is not None and entry[0] is codes:
                return entry[1]
        digest = hashlib.sha1(json.dumps(codes, sort_keys=True, default=str).encode(
            "utf-8", "surrogatepass")).hexdigest()[:16]
        key = f"{env_key}#{digest}"
        with self._cond:
            self._codes[env_key] = (codes, key)
            while len(self._codes) > _CODES_CACHE:
                self._codes.pop(next(iter(self._codes)))
        return key

    def _state_key(self, state: Any) -> str:
        """A key for an initial database, by identity: each worker receives it once and
        copies it for every new episode (so pass a new object for a different database)."""
        with self._cond:
            entry = self._states.get(id(state))
            if entry is None or entry[1] is not state:
                self._state_count += 1
                entry = (f"state-{self._state_count}", state)
                self._states[id(state)] = entry
                while len(self._states) > 8:
                    self._states.pop(next(iter(self._states)))
            return entry[0]

    def _error(self, call: ToolCall, reason: str) -> ToolResult:
        return ToolResult(call.name, error_text(call.name, reason), ok=False, error=reason,
                          call_id=call.id)

    def _timeout(self, call: ToolCall, codes: Mapping[str, str], limit: float,
                 episode: str | None) -> ToolResult:
        short = f"timed out after {limit:g} seconds"
        if not self.release_timeout_text:
            return self._error(call, short)
        # func_timeout's message, as the release's call_function(name, arguments, code) raised it.
        kwargs = "{'data': <episode database>}" if episode is not None else "{}"
        args = (call.name, call.arguments, codes.get(call.name))
        text = (f"Function call_function (args={args!r}) (kwargs={kwargs}) timed out after "
                f"{limit:f} seconds.\n")
        return ToolResult(call.name, error_text(call.name, text), ok=False, error=short,
                          call_id=call.id)

    # ------------------------------------------------------------------ lifecycle

    def end_episode(self, episode: str) -> None:
        """Drop an episode's database (in its worker) and forget it."""
        with self._cond:
            self._lost.discard(episode)
            index = self._owner.get(episode)
        if index is None:
            return
        slot = self._slots[index]
        with self._cond:
            while slot.busy and not self._closed:
                self._cond.wait()
            if self._closed:
                return
            slot.busy = True
        try:
            worker = slot.worker
            if worker is not None and episode in worker.episodes:
                try:
                    worker.send({"op": "end_episode", "episode": episode}, time.monotonic() + 5.0)
                    worker.episodes.discard(episode)
                except _WorkerGone as gone:
                    self._retire(slot, gone.reason)
        finally:
            with self._cond:
                self._owner.pop(episode, None)
            self._release(slot)

    def warm(self) -> None:
        """Start every worker now (otherwise each starts on first use)."""
        for slot in self._slots:
            self._worker(slot)

    def close(self) -> None:
        """Kill every worker and remove their scratch directories (idempotent)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for slot in self._slots:
            if slot.worker is not None:
                slot.worker.kill()
                slot.worker = None

    def __enter__(self) -> "BasicSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
