"""The parent's side of one sandbox worker process: framed JSON over a pair of pipes.

:class:`_Channel` is the framing both isolation modes share (4-byte big-endian length +
UTF-8 JSON, read without blocking and bounded in size; anything malformed counts as a
crash); :class:`_Worker` is one basic-mode worker (a fresh ``python -I -S`` running
:mod:`toolfeedback.runtime.sandbox_worker` under resource limits), :class:`_Slot` its
place in the :class:`~toolfeedback.runtime.sandbox_basic.BasicSandbox` pool.
"""

from __future__ import annotations

import errno
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sandbox_basic import BasicSandbox

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_worker.py")
_HEADER = struct.Struct(">I")
_STARTUP_GRACE = 10.0  # a fresh interpreter gets this long on top of the first call's limit


class _WorkerGone(Exception):
    """The worker died, hung or spoke garbage; ``reason`` says which."""

    def __init__(self, reason: str, timed_out: bool = False):
        super().__init__(reason)
        self.reason, self.timed_out = reason, timed_out


class _Channel:
    """Framed JSON over a pair of non-blocking pipes (parent side of a worker)."""

    req_w: int
    resp_r: int
    buf: bytearray

    def _death(self, default: str) -> str:
        raise NotImplementedError

    def send(self, obj: Any, deadline: float, calls: str | None = None, extra: str | None = None) -> None:
        """Write one frame: ``obj`` as JSON, plus ``calls`` (JSON text encoded once by the
        caller) as its ``"calls"`` member and ``extra`` (``', "name": value'`` JSON text,
        encoded once by the caller) as further members."""
        text = json.dumps(obj)
        if calls is not None:
            extra = f'{extra or ""}, "calls": {calls}'
        if extra:
            text = f"{text[:-1]}{extra}}}"
        data = text.encode()
        view = memoryview(_HEADER.pack(len(data)) + data)
        while view:
            try:
                n = os.write(self.req_w, view)
            except BlockingIOError:
                n = 0
            except OSError as exc:  # EPIPE: the worker is gone
                raise _WorkerGone(self._death(f"its pipe closed ({errno.errorcode.get(exc.errno, exc.errno)})"))
            view = view[n:]
            if view:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise _WorkerGone("timed out", timed_out=True)
                select.select([], [self.req_w], [], wait)

    def recv(self, deadline: float, max_bytes: int) -> Any:
        while True:
            if len(self.buf) >= 4:
                (size,) = _HEADER.unpack_from(self.buf)
                if size > max_bytes:
                    raise _WorkerGone("the tool process sent an oversized reply")
                if len(self.buf) >= 4 + size:
                    frame = bytes(self.buf[4:4 + size])
                    del self.buf[:4 + size]
                    try:
                        return json.loads(frame)
                    except (ValueError, UnicodeDecodeError):
                        raise _WorkerGone("the tool process sent a malformed reply") from None
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise _WorkerGone("timed out", timed_out=True)
            ready, _, _ = select.select([self.resp_r], [], [], wait)
            if not ready:
                continue
            try:
                # 64 KiB: a 1 MiB read buffer costs an mmap/munmap (~14 us) on every reply
                chunk = os.read(self.resp_r, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                raise _WorkerGone(self._death("it exited"))
            self.buf += chunk

    def stale(self) -> bool:
        """True when bytes are waiting that no request asked for (a tool wrote to the pipe)."""
        if self.buf:
            return True
        ready, _, _ = select.select([self.resp_r], [], [], 0)
        return bool(ready)


class _Worker(_Channel):
    """One basic-mode worker process and its pipes (parent side)."""

    def __init__(self, sandbox: "BasicSandbox"):
        from .scratch import root

        # under this process's scratch root, which outlives neither SIGTERM nor a kill -9
        self.scratch = tempfile.mkdtemp(prefix="tf-sandbox-", dir=sandbox.scratch_root or root())
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        argv = [sandbox.python, "-I"] + ([] if sandbox.site_packages else ["-S"]) + [
            WORKER_SCRIPT, str(req_r), str(resp_w), self.scratch, str(sandbox.memory_mb),
            str(sandbox.cpu_seconds), str(sandbox.file_size_mb), "1" if sandbox.share_tables else "0"]
        try:
            self.proc = subprocess.Popen(argv, pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         cwd=self.scratch, env={"LANG": "C.UTF-8"})
        finally:
            os.close(req_r)
            os.close(resp_w)
        os.set_blocking(self.req_w, False)
        os.set_blocking(self.resp_r, False)
        self.started = time.monotonic()
        self.fresh = True
        self.buf = bytearray()
        self.envs: set[str] = set()
        self.episodes: set[str] = set()
        self.states: set[str] = set()
        self.seq = 0  # request number: every reply must echo it (and its call index)
        self._dead = threading.Lock()  # held once killed: a second kill closes no reused fd

    def _death(self, default: str) -> str:
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return f"the tool process failed: {default}"
        if code < 0:
            try:
                import signal

                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"the tool process was killed by signal {name}"
        return f"the tool process exited with status {code}"

    def kill(self) -> None:
        """Kill, reap, close pipes and remove the scratch directory (once; idempotent)."""
        if not self._dead.acquire(blocking=False):
            return
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            pass
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)


class _Slot:
    def __init__(self, index: int):
        self.index = index
        self.worker: _Worker | None = None
        self.busy = False
