"""Meta-tests: every hook is documented in docs/ and exercised by a test; layout holds."""

import inspect
from pathlib import Path

import pytest

from toolfeedback import hookspecs

REPO = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
               if hasattr(fn, "toolfeedback_spec"))


def test_there_are_hooks():
    assert "register_commands" in HOOKS and "on_environment_built" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring(hook):
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert len(doc.strip()) > 40, f"{hook} needs a docstring saying when it is called"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    text = (REPO / "docs" / "hooks.md").read_text(encoding="utf-8")
    assert f"`{hook}(" in text, f"docs/hooks.md does not document {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    here = Path(__file__).resolve()
    users = [p.name for p in here.parent.rglob("test_*.py")
             if p != here and hook in p.read_text(encoding="utf-8")]
    assert users, f"no test mentions {hook}"


def test_layout():
    for path in ["pyproject.toml", "README.md", "core/__init__.py", "plugins/__init__.py",
                 "contrib/__init__.py", "docs", "benchmarks", ".ci/run", "tests"]:
        assert (REPO / path).exists(), path


def test_every_builtin_entry_point_imports():
    import importlib
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    eps = project["entry-points"]["toolfeedback"]
    assert eps, "no built-in plugins"
    for name, target in eps.items():
        assert target.split(".")[-1] == name, f"entry point {name} should be named after its module"
        importlib.import_module(target)
