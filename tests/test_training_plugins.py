"""The training plugins satisfy their base classes and are registered by entry points.

Hooks implemented here: ``register_algorithms`` (grpo, reinforce_pp, dpo),
``register_adapters`` (full, lora) and ``register_commands`` (train).
"""

from __future__ import annotations

import pytest

from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugins import adapters, algo_dpo, algo_grpo, algo_reinforce_pp, train_verb
from toolfeedback.registry import Catalog


@pytest.mark.parametrize("module", [algo_grpo, algo_reinforce_pp, algo_dpo, adapters, train_verb])
def test_plugin_modules_are_valid(module, tf_check_plugin):
    tf_check_plugin(module)


def test_entry_points_register_the_names():
    catalog = Catalog(create_plugin_manager())
    assert {"grpo", "reinforce_pp", "dpo"} <= set(catalog.names("algorithms"))
    assert {"full", "lora"} <= set(catalog.names("adapters"))
    assert "train" in catalog.names("commands")
    assert catalog.provider("algorithms", "reinforce_pp") == "algo_reinforce_pp"


def test_blocking_an_algorithm_plugin_removes_only_it():
    catalog = Catalog(create_plugin_manager(block=["algo_dpo"]))
    assert "dpo" not in catalog.names("algorithms")
    assert {"grpo", "reinforce_pp"} <= set(catalog.names("algorithms"))
