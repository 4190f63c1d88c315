"""Streaming JSONL reading and writing with errors that name file, line and field.

Readers never hold a whole file in memory. ``on_error="stop"`` raises
:class:`~toolfeedback.errors.InputError` at the first bad line; ``"skip"`` counts bad
lines (``reader.skipped``, ``reader.errors``) and goes on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import InputError

T = TypeVar("T")
ON_ERROR = ("stop", "skip")


#: Deepest nesting of arrays/objects accepted in one record; real records nest < 20 deep.
MAX_DEPTH = 200
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels of arrays/objects)"


def json_error(exc: json.JSONDecodeError) -> str:
    """``invalid JSON: <what> at column N`` (1-based; ``line L, column N`` past line 1)."""
    # json's own "Invalid control character at" already ends in "at"
    what = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg
    where = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno}, column {exc.colno}"
    return f"invalid JSON: {what} at {where}"


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a parsed JSON value, counted without recursion and up to
    ``limit + 1`` (deeper values would overflow the stack of recursive code downstream)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
                         if isinstance(child, (dict, list)))
    return deepest


def decode_line(text: str, *, path: str | None = None, line: int | None = None) -> Any:
    """One JSON value from one line, or :class:`InputError` at ``path:line`` (bad JSON with
    its column, or nesting deeper than :data:`MAX_DEPTH`)."""
    text = text.rstrip("\r\n")  # an error at the line's end is on this line, not the next
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(json_error(exc), path=path, line=line) from None
    except RecursionError:
        raise InputError(TOO_DEEP, path=path, line=line) from None
    # cheap pre-check: a line with few brackets cannot nest deeply
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(value) > MAX_DEPTH:
        raise InputError(TOO_DEEP, path=path, line=line)
    return value


class JsonlReader(Generic[T]):
    """Iterate ``(line_number, value)`` of a JSONL file, parsed by ``parse(obj)``.

    ``parse`` may raise ``ValueError``/``KeyError``/``TypeError``; a message that starts
    with ``$`` is taken as the field path. Blank lines are ignored.
    """

    def __init__(self, path: str | os.PathLike, parse: Callable[[Any], T] | None = None,
                 *, on_error: str = "stop", max_errors_kept: int = 100):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
        self.path = str(path)
        self.parse = parse or (lambda obj: obj)
        self.on_error = on_error
        self.skipped = 0
        self.errors: list[InputError] = []
        self._max_kept = max_errors_kept

    def __iter__(self) -> Iterator[tuple[int, T]]:
        try:
            # Binary, decoded line by line: one bad byte costs one line, and line numbers stay exact.
            handle = open(self.path, "rb")
        except FileNotFoundError:
            raise InputError("no such file", path=self.path) from None
        except IsADirectoryError:
            raise InputError("is a directory, not a JSONL file", path=self.path) from None
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror}", path=self.path) from None
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self._fail(InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                          path=self.path, line=lineno))
                    continue
                if not line.strip():
                    continue
                try:
                    value = self.parse(decode_line(line, path=self.path, line=lineno))
                except InputError as exc:
                    self._fail(exc)
                    continue
                except RecursionError:  # a parser or converter walking a deep value
                    self._fail(InputError(TOO_DEEP, path=self.path, line=lineno))
                    continue
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    self._fail(self._located(exc, lineno))
                    continue
                yield lineno, value

    def _located(self, exc: BaseException, lineno: int) -> InputError:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        if isinstance(exc, KeyError):
            return InputError("missing", path=self.path, line=lineno, field=f"$.{text}")
        if text.startswith("$"):
            field, _, msg = text.partition(": ")
            return InputError(msg or "invalid", path=self.path, line=lineno, field=field)
        return InputError(text, path=self.path, line=lineno)

    def _fail(self, error: InputError) -> None:
        if self.on_error == "stop":
            raise error
        self.skipped += 1
        if len(self.errors) < self._max_kept:
            self.errors.append(error)


def read_jsonl(path: str | os.PathLike, parse: Callable[[Any], T] | None = None, *,
               on_error: str = "stop") -> Iterator[T]:
    """Yield parsed values of a JSONL file (see :class:`JsonlReader`)."""
    for _, value in JsonlReader(path, parse, on_error=on_error):
        yield value


class JsonlWriter:
    """Append JSON lines, flushed per record, so a crash never leaves a half line behind
    unnoticed: :func:`repair_tail` trims a torn last line before appending again.

    ``mode="w"`` writes a staged copy beside the target and moves it into place on a clean
    close (see :mod:`toolfeedback.atomic`): a run that fails (bad input line, Ctrl-C) leaves
    the target as it was, existing or not. ``mode="a"`` appends in place (resume).
    """

    def __init__(self, path: str | os.PathLike, mode: str = "w", *, fsync_every: int = 0,
                 keep_existing: bool = True):
        if mode not in ("w", "a"):
            raise ValueError("mode must be 'w' or 'a'")
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.parent.is_dir():
            raise NotADirectoryError(20, f"its folder {str(self.path.parent)!r} is not a directory",
                                     str(self.path))
        if self.path.is_dir():
            raise IsADirectoryError(21, "is a directory, not a file", str(self.path))
        if mode == "a":
            repair_tail(self.path)
        # keep_existing=False writes the target in place: for resumable writers (rollout),
        # whose lines must survive a kill
        self._target = self.path
        self._staged = keep_existing and mode == "w"
        if self._staged:
            from .atomic import staged_name

            self.path = staged_name(self.path)
        self._handle = open(self.path, mode, encoding="utf-8")
        self._fsync_every = fsync_every
        self.count = 0

    def write(self, obj: Any) -> None:
        """Write one record as one line (UTF-8 kept as is) and flush it.

        Text holding lone surrogates (a server's ``"\\ud800"`` escape, odd tool output)
        cannot be encoded as UTF-8; such a record is written with ASCII escapes instead,
        which stays valid JSON and reads back to the same string.
        """
        try:
            # Encoding happens inside write() before anything is buffered, so a failure
            # writes nothing; checking ahead of time would encode every line twice.
            self._handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
        except UnicodeEncodeError:  # lone surrogates
            self._handle.write(json.dumps(obj, ensure_ascii=True) + "\n")
        self._handle.flush()
        self.count += 1
        if self._fsync_every and self.count % self._fsync_every == 0:
            os.fsync(self._handle.fileno())

    def close(self, failed: bool = False) -> None:
        """Flush to disk and close; a staged file is moved into place, unless ``failed``
        (then it is removed and the target is left untouched)."""
        if self._handle.closed:
            return
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self._staged:
            if failed:
                self.path.unlink(missing_ok=True)
            else:
                os.replace(self.path, self._target)
            self.path = self._target

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(failed=exc_type is not None)


def repair_tail(path: str | os.PathLike) -> int:
    """Drop a torn (unterminated) last line left by a killed writer; return bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the last newline in chunks.
        pos = size
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            handle.seek(pos)
            chunk = handle.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = pos + idx + 1
                break
        else:
            keep = 0
        handle.truncate(keep)
        return size - keep
