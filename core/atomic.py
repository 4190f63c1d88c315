"""Outputs appear whole or not at all: write beside the target, rename on success.

Every writer of a user-named output goes through :func:`atomic_file` (one file) or
:func:`atomic_dir` (a directory of files: a checkpoint, a report folder). On an error or
Ctrl-C the staged copy is removed and whatever the target held before is untouched; on
success each staged file is moved over its target with ``os.replace`` (atomic on one file
system), so a reader never sees half a file. Files of an existing output directory that the
run did not produce are kept.

Example::

    with atomic_file("scores.jsonl") as handle:
        handle.write(line)              # scores.jsonl changes only when the block ends well
"""

from __future__ import annotations

import errno
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

#: Suffix of staged copies (a leading dot hides them from ``ls``).
PARTIAL = ".partial"


def staged_name(target: Path) -> Path:
    """The staging path beside ``target``: ``.NAME.PID.partial`` (one per process)."""
    return target.with_name(f".{target.name}.{os.getpid()}{PARTIAL}")


def check_output_file(target: str | os.PathLike) -> Path:
    """``target`` as a Path after refusing a directory or a folder that is a file (``OSError``
    naming the path, which the CLI prints as one line)."""
    path = Path(target)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(path))
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"its folder {str(parent)!r} is not a directory",
                                 str(path))
    return path


def check_output_dir(target: str | os.PathLike) -> Path:
    """``target`` as a Path after refusing an existing file (``OSError`` naming the path)."""
    path = Path(target)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a directory", str(path))
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"its folder {str(parent)!r} is not a directory",
                                 str(path))
    return path


@contextmanager
def atomic_file(target: str | os.PathLike, mode: str = "w", *,
                encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a staged copy of ``target`` for writing; move it into place when the block ends
    without an exception, remove it otherwise. ``mode`` is ``"w"`` or ``"wb"``."""
    if mode not in ("w", "wb"):
        raise ValueError("mode must be 'w' or 'wb'")
    path = check_output_file(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = staged_name(path)
    handle = open(staged, mode, encoding=None if "b" in mode else encoding)
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(staged, path)
    except BaseException:
        handle.close()
        staged.unlink(missing_ok=True)
        raise


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; return the path."""
    with atomic_file(target) as handle:
        handle.write(text)
    return Path(target)


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; when the block ends well, move
    each of its entries into ``target`` (created if needed), replacing same-named ones; on
    an exception remove the staging directory and leave ``target`` as it was."""
    path = check_output_dir(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = staged_name(path)
    shutil.rmtree(staged, ignore_errors=True)  # a leftover of a killed run of this pid
    staged.mkdir()
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    try:
        path.mkdir(exist_ok=True)
        for entry in sorted(staged.iterdir()):
            _move_into(entry, path / entry.name)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _move_into(src: Path, dst: Path) -> None:
    if src.is_dir() and dst.is_dir() and not dst.is_symlink():
        # a directory cannot be replaced in one rename: swap the old one aside first
        old = dst.with_name(f".{dst.name}.{os.getpid()}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    elif dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
        os.replace(src, dst)
    else:
        os.replace(src, dst)


def remove_if_new_and_empty(path: str | os.PathLike, existed: bool) -> None:
    """Remove ``path`` when it did not exist before a run that failed and it is empty (an
    appending writer's file that received nothing)."""
    p = Path(path)
    if not existed and p.is_file() and p.stat().st_size == 0:
        p.unlink(missing_ok=True)
