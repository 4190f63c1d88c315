"""The layout holds: arrows only point down, no import cycle, small modules, and plugins
import only the declared public surface (:mod:`toolfeedback.plugin_api`)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from toolfeedback.plugin_api import PUBLIC_MODULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "tests" / "plugin_example"
#: source folder -> import package
PACKAGES = {REPO / "core": "toolfeedback", REPO / "plugins": "toolfeedback.plugins",
            REPO / "contrib": "toolfeedback.contrib",
            EXAMPLE / "tf_example_plugin": "tf_example_plugin"}
STAGES = ("runtime", "build", "rollout", "train", "evaluate")
#: stage package -> stage packages it must never import (lazily or not)
FORBIDDEN = {"runtime": {"build", "rollout", "train", "evaluate"},
             "build": {"train", "evaluate"}, "rollout": {"train", "evaluate"}}
MAX_LINES = 400
# Modules allowed over the limit (empty since the sandbox rewrite split sandbox.py and
# sandbox_worker.py); an entry needs a reason and a plan.
OVERSIZE_ALLOWED: set[str] = set()
# Import edges allowed to close a cycle (empty: Sandbox(...) is a factory over
# sandbox_basic and sandbox_strict); an entry needs a reason and a plan.
CYCLE_ALLOWED: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> list[tuple[str, bool, int]]:
    """``(imported module, at module level, line)`` for every import of ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    # `if TYPE_CHECKING:` imports never run: they are no arrow and close no cycle
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            # `from pkg import mod` imports pkg.mod when that is a module
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name not in MODULES and "." in name:  # `import a.b.c` where c is an attribute
                name = name.rpartition(".")[0]
            if name in MODULES:
                out.append((name, id(node) in top, node.lineno))
    return out


IMPORTS = {module: _imports(module, path) for module, path in MODULES.items()}


def _entry_points() -> set[str]:
    found = set()
    for pyproject in (REPO / "pyproject.toml", EXAMPLE / "pyproject.toml"):
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        found |= set(data["project"]["entry-points"]["toolfeedback"].values())
    return found


def _core(module: str) -> bool:
    return module == "toolfeedback" or (module.startswith("toolfeedback.")
                                        and not module.startswith(("toolfeedback.plugins", "toolfeedback.contrib")))


def _package(module: str) -> str:
    """The plugin package (toolfeedback.plugins, toolfeedback.contrib, tf_example_plugin) of ``module``."""
    return max((p for p in PACKAGES.values() if module == p or module.startswith(p + ".")), key=len)


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "toolfeedback" and parts[1] in STAGES else None


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(REPO)}:{line}"


def test_every_public_module_exists():
    assert set(PUBLIC_MODULES) <= set(MODULES), set(PUBLIC_MODULES) - set(MODULES)


def test_plugins_import_only_the_public_surface_and_no_sibling_entry_point():
    entry_points = _entry_points()
    problems = []
    for module, imports in IMPORTS.items():
        if _core(module):
            continue
        for target, _, line in imports:
            if _core(target) and target not in PUBLIC_MODULES:
                problems.append(f"{_where(module, line)}: {module} imports private core module {target}")
            elif not _core(target) and target != module:
                if target in entry_points:
                    problems.append(f"{_where(module, line)}: {module} imports another plugin's "
                                    f"entry-point module {target}")
                elif _package(target) != _package(module):
                    problems.append(f"{_where(module, line)}: {module} imports {target} of another "
                                    f"plugin package (shared helpers belong in the core)")
    assert not problems, "\n".join(problems)


def test_plugins_use_no_private_name_of_the_core():
    problems = []
    for module, path in MODULES.items():
        if _core(module):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("toolfeedback") \
                    and _core(node.module):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private:
                    problems.append(f"{_where(module, node.lineno)}: {module} imports {private} "
                                    f"from {node.module}")
    assert not problems, "\n".join(problems)


def test_arrows_point_down_in_the_core():
    problems = []
    for module, imports in IMPORTS.items():
        if not _core(module):
            continue
        stage = _stage(module)
        for target, at_top, line in imports:
            where = _where(module, line)
            if not _core(target):
                problems.append(f"{where}: core module {module} imports plugin module {target}")
            elif stage is None and _stage(target) and at_top and module != "toolfeedback.api":
                problems.append(f"{where}: top-level {module} imports stage package {target} at import time")
            elif stage in FORBIDDEN and _stage(target) in FORBIDDEN[stage]:
                problems.append(f"{where}: {stage} module {module} imports {target}")
    assert not problems, "\n".join(problems)


def test_no_import_cycle_in_the_core():
    # lazy (function-level) imports count too: a cycle is a cycle whenever it is closed
    graph = {m: {t for t, _, _ in IMPORTS[m] if _core(t) and t != m and (m, t) not in CYCLE_ALLOWED}
             for m in MODULES if _core(m)}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("folder", ["core", "plugins", "contrib"])
def test_no_module_over_400_lines(folder):
    too_long = []
    for path in sorted((REPO / folder).rglob("*.py")):
        rel = str(path.relative_to(REPO))
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and rel not in OVERSIZE_ALLOWED:
            too_long.append(f"{rel}: {lines} lines")
    assert not too_long, "modules over 400 lines:\n" + "\n".join(too_long)


def test_the_oversize_allowlist_only_holds_oversize_modules():
    # once a module shrinks, its entry goes (and the allowlist is emptied after the rewrite)
    for rel in OVERSIZE_ALLOWED:
        path = REPO / rel
        assert path.is_file() and len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES, rel


def test_the_checks_catch_what_they_claim(tmp_path, monkeypatch):
    # the import-contract check itself: a plugin importing a sibling entry point and a
    # private core module is reported (guards against a check that never fires)
    fake = {"toolfeedback.plugins.fake": [("toolfeedback.plugins.backend_hf", True, 3),
                                          ("toolfeedback.cli", True, 4)]}
    monkeypatch.setattr(sys.modules[__name__], "IMPORTS", fake)
    monkeypatch.setitem(MODULES, "toolfeedback.plugins.fake", REPO / "plugins" / "fake.py")
    with pytest.raises(AssertionError) as info:
        test_plugins_import_only_the_public_surface_and_no_sibling_entry_point()
    assert "entry-point module toolfeedback.plugins.backend_hf" in str(info.value)
    assert "private core module toolfeedback.cli" in str(info.value)
