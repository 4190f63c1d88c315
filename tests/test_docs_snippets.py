"""Python shown in the docs runs as shown."""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_block_after(doc: str, marker: str) -> str:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return re.search(r"```python\n(.*?)```", text.split(marker, 1)[1], re.S).group(1)


def run_showing_results(code: str) -> list:
    """Run ``code``; the value of every expression statement followed by a ``# {...}``
    comment, paired with that comment's literal."""
    tree = ast.parse(code)
    lines = code.splitlines()
    scope: dict = {}
    shown = []
    for node in tree.body:
        if isinstance(node, ast.Expr):
            value = eval(compile(ast.Expression(node.value), "<doc>", "eval"), scope)
            after = lines[node.end_lineno] if node.end_lineno < len(lines) else ""
            if after.lstrip().startswith("# {"):
                literal = after.split("#", 1)[1].split("  (", 1)[0].strip()
                shown.append((value, ast.literal_eval(literal)))
        else:
            exec(compile(ast.Module([node], []), "<doc>", "exec"), scope)
    return shown


def test_evaluation_scorer_snippet_runs_and_prints_what_it_says():
    shown = run_showing_results(python_block_after("evaluation.md", "The scorers are plain functions"))
    assert len(shown) == 2 and all(value == claimed for value, claimed in shown), shown


def test_writing_a_plugin_composition_section_works_when_the_plugin_is_also_installed():
    """Section 4 passes a module that (after section 2) an entry point loads as well."""
    from toolfeedback.plugins import rewards_solve  # stands in: loaded by its entry point too

    code = python_block_after("writing-a-plugin.md", "## 5. Composition from Python")
    code = code.replace("plugins=[my_plugin]", "plugins=[rewards_solve]").replace('"hit_count"', '"solve_f1"')
    scope = {"rewards_solve": rewards_solve}
    exec(compile(code, "<doc>", "exec"), scope)
    assert scope["reward"] is not None
    # and section 1's plugin, composed without any entry point
    plugin = types.ModuleType("my_plugin")
    exec(compile(python_block_after("writing-a-plugin.md", "## 1. The code"), "<doc>", "exec"),
         plugin.__dict__)
    import toolfeedback
    from toolfeedback.registry import Catalog

    pm = toolfeedback.create_plugin_manager(plugins=[plugin, plugin])
    assert Catalog(pm).get("rewards", "hit_count").name == "hit_count"
