"""Parsing Python source into ``ast`` trees, safe to call from many threads.

CPython 3.11's ``ast.parse`` (and ``compile`` of a tree) keep their recursion-depth
bookkeeping in interpreter-wide state, so two threads converting trees at once can fail
with ``SystemError: AST constructor recursion depth mismatch`` (CPython gh-106905, fixed in
later releases). Builds and verification handle environments in parallel threads, so every
tree conversion of ours goes through the one lock here.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)`` under the process-wide lock."""
    with _LOCK:
        return ast.parse(source, filename)


def compile_tree(tree: ast.AST, filename: str, mode: str = "exec"):
    """``compile(tree, filename, mode)`` under the process-wide lock."""
    with _LOCK:
        return compile(tree, filename, mode)

