"""The parent's side of the strict sandbox's template process: its control socket.

Messages are JSON, one per ``SOCK_SEQPACKET`` packet; descriptors (an episode's pipe ends
and pidfd, an initial database's memfd) travel with them as ``SCM_RIGHTS``. The template
answers each ``fork`` request with the new process's pid and descriptors, and reports the
wait status of every episode process it reaps (kept only for processes someone may ask
about, so the socket never backs up).
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any

from ..errors import ConfigError
from .sandbox_process import WORKER_SCRIPT

_STARTUP = 30.0  # the template imports and enters its namespaces once
_REQUIRED = ("landlock", "seccomp")


class SandboxUnavailable(ConfigError):
    """Strict isolation was asked for and this kernel (or the template) cannot provide it."""


def _binding_paths() -> list[str]:
    import landlockpy
    import seccompy

    return sorted({os.path.dirname(os.path.dirname(m.__file__)) for m in (landlockpy, seccompy)})


_IDS = itertools.count(1)  # episode process ids, unique across (sub-)templates: cgroup names


class _PidfdProc:
    """``Popen``'s poll/wait/kill for a process that is not our child (a sub-template)."""

    def __init__(self, pidfd: int):
        self.pidfd, self.returncode = pidfd, None

    def poll(self):
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = -9
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None and not select.select([self.pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired("sub-template", timeout)
        self.returncode = -9 if self.returncode is None else self.returncode
        os.close(self.pidfd)
        return self.returncode

    def kill(self):
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except OSError:
            pass


class _Template:
    """A template process and its control socket (parent side): the main one (started
    here) or a sub-template holding one initial database (``adopt``: its socket, pidfd)."""

    def __init__(self, box, adopt: tuple[socket.socket, int] | None = None):
        self.lock = threading.RLock()
        self.replies: dict[int, tuple[dict, list[int]]] = {}
        self.exits: dict[int, int] = {}
        self.watch: set[int] = set()  # ids whose exit status someone may ask for
        self.voided: set[int] = set()  # requested forks nobody will use
        self.spares: list[int] = []  # forks requested ahead (ids), for the next episodes
        self.box = box
        if adopt is not None:
            self.scratch_root = None
            self.ctl, self.proc = adopt[0], _PidfdProc(adopt[1])
        else:
            self._start(box)
        ready, _ = self._read(time.monotonic() + _STARTUP, lambda m: "ready" in m)
        if ready is None:
            self.close()
            raise SandboxUnavailable("the sandbox template did not start")
        self.report = ready.get("template", {})

    def _start(self, box) -> None:
        from .scratch import root

        # under this process's scratch root, which outlives neither SIGTERM nor a kill -9
        self.scratch_root = tempfile.mkdtemp(prefix="tf-strict-", dir=box.scratch_root or root())
        os.chmod(self.scratch_root, 0o700)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {"paths": _binding_paths(), "scratch_root": self.scratch_root, "required": list(_REQUIRED),
               "limits": box.limits}
        argv = [box.python, "-I", "-S", WORKER_SCRIPT, "template", str(theirs.fileno()), json.dumps(cfg)]
        try:
            self.proc = subprocess.Popen(argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         cwd=self.scratch_root, env={})
        finally:
            theirs.close()
        self.ctl = ours

    def _read(self, deadline: float, want) -> tuple[dict | None, list[int]]:
        """Read control messages until one satisfies ``want``; file exits and fork
        replies for others on the way (the lock is held by the caller)."""
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return None, []
            ready, _, _ = select.select([self.ctl], [], [], wait)
            if not ready:
                continue
            data, fds, _, _ = socket.recv_fds(self.ctl, 1 << 16, 4)
            if not data:
                return None, []
            msg = json.loads(data)
            if want(msg):
                return msg, fds
            if "exit" in msg:
                if msg["exit"] in self.watch:
                    self.exits[msg["exit"]] = msg["status"]
            elif "forked" in msg:
                if msg["forked"] in self.voided:
                    self.voided.discard(msg["forked"])
                    _kill_fds(fds)
                else:
                    self.replies[msg["forked"]] = (msg, fds)
            else:
                for fd in fds:
                    os.close(fd)

    def request(self) -> int:
        """Ask for a fork (the reply is collected by :meth:`collect`)."""
        with self.lock:
            cid = next(_IDS)
            socket.send_fds(self.ctl, [json.dumps({"op": "fork", "id": cid}).encode()], [])
            self.watch.add(cid)
            return cid

    def collect(self, cid: int, timeout: float = 10.0) -> tuple[dict, list[int]]:
        with self.lock:
            if cid in self.replies:
                return self.replies.pop(cid)
            msg, fds = self._read(time.monotonic() + timeout, lambda m: m.get("forked") == cid)
            if msg is None:
                raise SandboxUnavailable("the sandbox template stopped answering")
            return msg, fds

    def sub_template(self, key: str, state: Any) -> "_Template":
        """A sub-template holding ``state`` (sent as JSON in a memfd) for its episodes."""
        fd = os.memfd_create("tf-state")
        try:
            with open(fd, "wb", closefd=False) as f:
                f.write(json.dumps(state).encode())
            os.lseek(fd, 0, os.SEEK_SET)
            with self.lock:
                socket.send_fds(self.ctl, [json.dumps({"op": "state", "key": key}).encode()], [fd])
                msg, fds = self._read(time.monotonic() + _STARTUP, lambda m: m.get("sub") == key)
        finally:
            os.close(fd)
        if msg is None or len(fds) != 2:
            raise SandboxUnavailable("the sandbox template could not take an initial database")
        return _Template(self.box, adopt=(socket.socket(fileno=fds[0]), fds[1]))

    def status(self, cid: int, timeout: float) -> int | None:
        """The wait status of an ended episode process (``None`` if none came in time)."""
        with self.lock:
            if cid not in self.exits:
                msg, _ = self._read(time.monotonic() + timeout, lambda m: m.get("exit") == cid)
                if msg is not None:
                    self.exits[cid] = msg["status"]
            self.watch.discard(cid)
            return self.exits.pop(cid, None)

    def void(self, cid: int) -> None:
        """A requested fork nobody will use: kill it as soon as (or if already) it is there."""
        with self.lock:
            self.forget(cid)
            if cid in self.replies:
                _kill_fds(self.replies.pop(cid)[1])
            else:
                self.voided.add(cid)

    def forget(self, cid: int) -> None:
        with self.lock:
            self.watch.discard(cid)
            self.exits.pop(cid, None)

    def close(self) -> None:
        for _, fds in self.replies.values():
            _kill_fds(fds)
        self.replies.clear()
        try:
            self.ctl.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.scratch_root is not None:
            import shutil

            shutil.rmtree(self.scratch_root, ignore_errors=True)


def _kill_fds(fds: list[int]) -> None:
    """Kill an unused episode process through its pidfd (the last fd) and close its fds."""
    if len(fds) == 3:
        try:
            signal.pidfd_send_signal(fds[2], signal.SIGKILL)
        except OSError:
            pass
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
