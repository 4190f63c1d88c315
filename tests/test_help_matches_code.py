"""Help texts that list names list all of them (registered modes, lm_eval's local tasks)."""

from __future__ import annotations

import attrs
import pytest

from toolfeedback.cli import build_parser
from toolfeedback.manager import create_plugin_manager
from toolfeedback.registry import Catalog


@pytest.fixture(scope="module")
def pm():
    return create_plugin_manager()


def helps(parser) -> list[str]:
    return [action.help or "" for action in parser._actions]


def test_every_mode_flag_names_every_registered_mode(pm):
    modes = Catalog(pm).names("modes")
    parsers = build_parser(pm).verb_parsers
    seen = 0
    for verb, parser in parsers.items():
        for action in parser._actions:
            if "--mode" in action.option_strings and not action.choices:  # choices: shown by argparse
                seen += 1
                missing = [m for m in modes if m not in (action.help or "")]
                assert not missing, f"{verb} --mode help omits {missing}: {action.help!r}"
    assert seen >= 3  # rollout, train, eval at least


def test_every_help_that_lists_local_lm_eval_tasks_lists_them_all(pm):
    from toolfeedback.contrib import lm_eval_plugin

    texts = [h for p in build_parser(pm).verb_parsers.values() for h in helps(p)]
    for value in vars(lm_eval_plugin).values():  # a plugin's own Options classes too
        if isinstance(value, type) and attrs.has(value):
            texts += [f.metadata.get("help", "") for f in attrs.fields(value)]
    listing = [t for t in texts if "tf_arith" in t]
    assert listing, "no help names the local lm_eval tasks"
    for text in listing:
        missing = [t for t in lm_eval_plugin.LOCAL_TASKS if t not in text]
        assert not missing, f"{text!r} omits {missing}"
