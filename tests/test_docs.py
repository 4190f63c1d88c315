"""Docs match the code: every verb and flag is in docs/cli.md, every doc link resolves."""

import argparse
import re


from toolfeedback.cli import build_parser
from toolfeedback.cli_docs import render
from toolfeedback.manager import create_plugin_manager


def _verbs():
    parser = build_parser(create_plugin_manager())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_verb_and_flag_is_in_the_cli_reference(repo_root):
    text = (repo_root / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = []
    for name, parser in _verbs().items():
        if f"## toolfeedback {name}" not in text:
            missing.append(f"verb {name}")
            continue
        section = text.split(f"## toolfeedback {name}\n", 1)[1].split("\n## ", 1)[0]
        for action in parser._actions:
            for option in action.option_strings:
                if option not in section:
                    missing.append(f"{name} {option}")
    assert not missing, "docs/cli.md is stale (regenerate: python -m toolfeedback.cli_docs " \
                        "> docs/cli.md): " + ", ".join(missing)


def test_cli_reference_renders():
    assert "## toolfeedback plugins" in render()


def test_relative_links_resolve(repo_root):
    for path in [repo_root / "README.md", *sorted((repo_root / "docs").glob("*.md"))]:
        _check_links(path)


def _check_links(path):
    doc = path.name
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        assert (path.parent / target).exists(), f"{doc} links to missing {target}"
