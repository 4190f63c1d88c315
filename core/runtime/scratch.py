"""The sandbox's scratch root: one directory per parent process, gone when it ends.

Tool code runs with a scratch directory as its working directory. They all live under one
root per parent process, ``<tmp>/tf-scratch-<pid>-<start>`` (``start``: the process's
start time, so a recycled pid is not mistaken for the owner). The root is removed at
normal exit and on SIGTERM (turned into ``SystemExit`` where nobody else handles it); after a ``kill -9`` (which no process can catch) the next
parent that starts sweeps every root whose owner is no longer alive.

Example::

    from toolfeedback.runtime import scratch
    workdir = tempfile.mkdtemp(prefix="tf-sandbox-", dir=scratch.root())
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path

PREFIX = "tf-scratch-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-(\d+)$")
_lock = threading.Lock()
_root: Path | None = None
_owner: int | None = None  # pid that made _root (a forked child must not remove it)


def _start_time(pid: int) -> int:
    """Start time of ``pid`` in clock ticks since boot (Linux), 0 where unknown; -1 if the
    process does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return -1
    except OSError:
        return _alive_by_signal(pid)
    try:
        # the command name (field 2) may hold spaces or ')': split after its last ')'
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (ValueError, IndexError):
        return 0


def _alive_by_signal(pid: int) -> int:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return -1
    except PermissionError:
        return 0
    return 0


def _base(base: str | os.PathLike | None) -> Path:
    return Path(base) if base is not None else Path(tempfile.gettempdir())


def sweep(base: str | os.PathLike | None = None) -> list[Path]:
    """Remove scratch roots under ``base`` whose owner is gone; return what was removed."""
    removed = []
    try:
        entries = list(_base(base).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        pid, start = int(match.group(1)), int(match.group(2))
        now = _start_time(pid)
        if now == -1 or (now and start and now != start):  # dead, or the pid was recycled
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def root(base: str | os.PathLike | None = None) -> str:
    """This process's scratch root (made, and stale roots swept, on first use)."""
    global _root, _owner
    with _lock:
        pid = os.getpid()
        if _root is not None and _owner == pid and _root.is_dir():
            return str(_root)
        sweep(base)
        start = max(_start_time(pid), 0)
        path = _base(base) / f"{PREFIX}{pid}-{start}"
        path.mkdir(mode=0o700, exist_ok=True)
        first = _root is None or _owner != pid
        _root, _owner = path, pid
        if first:
            atexit.register(cleanup)
            _handle_sigterm()
        return str(path)


def cleanup() -> None:
    """Remove this process's scratch root (idempotent; never a parent's, after a fork)."""
    global _root
    if _root is not None and _owner == os.getpid():
        shutil.rmtree(_root, ignore_errors=True)
        _root = None


def _handle_sigterm() -> None:
    # Only where nobody else handles SIGTERM, and only from the main thread (Python's rule).
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # pragma: no cover - embedded interpreters
        pass


def _on_sigterm(signum, frame) -> None:
    # SystemExit, not a re-raised signal: `finally` blocks run (staged outputs removed,
    # sandbox workers killed), then atexit removes the root; exit status 128 + 15.
    raise SystemExit(128 + signum)
