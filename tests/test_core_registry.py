import pytest

from toolfeedback import hookimpl
from toolfeedback.errors import PluginError, UnknownNameError
from toolfeedback.registry import Catalog


class Named:
    def __init__(self, name, stage=None):
        self.name = name
        if stage:
            self.stage = stage

    def score(self, outcome):
        return 0.0


class ProviderA:
    @hookimpl
    def register_rewards(self, register):
        register(Named("alpha"))
        register(Named("beta"))

    @hookimpl
    def register_stages(self, register):
        register(Named("procedural", stage="decompose"))


class ProviderB:
    @hookimpl
    def register_rewards(self, register):
        register(Named("alpha"))


class ProviderC:
    @hookimpl
    def register_stages(self, register):
        # Same name, other stage: stages are keyed by stage and name.
        register(Named("procedural", stage="deploy"))


def test_registrar_collects_names_and_providers(tf_plugin_manager):
    pm = tf_plugin_manager(ProviderA())
    catalog = Catalog(pm)
    assert catalog.names("rewards") == ["alpha", "beta"]
    assert catalog.get("rewards", "beta").name == "beta"
    provider = catalog.provider("rewards", "alpha")
    assert pm.get_plugin(provider) is not None


def test_duplicate_name_names_both_providers(tf_plugin_manager):
    a, b = ProviderA(), ProviderB()
    pm = tf_plugin_manager(a, b)
    with pytest.raises(PluginError) as info:
        Catalog(pm).names("rewards")
    text = str(info.value)
    assert "'alpha'" in text
    assert pm.get_name(a) in text and pm.get_name(b) in text


def test_stages_keyed_by_stage_and_name(tf_plugin_manager):
    pm = tf_plugin_manager(ProviderA(), ProviderC())
    assert Catalog(pm).names("stages") == ["decompose:procedural", "deploy:procedural"]


def test_unknown_name_lists_known_ones(tf_plugin_manager):
    pm = tf_plugin_manager(ProviderA())
    with pytest.raises(UnknownNameError, match="no reward named 'gamma' \\(known: alpha, beta\\)"):
        Catalog(pm).get("rewards", "gamma")


def test_registered_object_without_name_is_an_error(tf_plugin_manager):
    class Bad:
        @hookimpl
        def register_rewards(self, register):
            register(object())

    with pytest.raises(PluginError, match="has no string 'name'"):
        Catalog(tf_plugin_manager(Bad())).names("rewards")


CATALOG_HOOKS = ["register_sources", "register_stages", "register_rewards", "register_algorithms",
                 "register_modes", "register_backends", "register_tool_formats",
                 "register_adapters", "register_evaluators", "register_commands",
                 "register_runners"]


def test_every_catalog_hook_feeds_its_category(tf_plugin_manager):
    # One plugin implementing every catalog hook: each category sees its object.
    from toolfeedback.registry import CATEGORIES

    assert sorted(CATEGORIES.values()) == sorted(CATALOG_HOOKS)

    class All:
        pass

    plugin = All()
    for category, hook in CATEGORIES.items():
        def impl(register, _category=category):
            register(Named(f"x-{_category}", stage="decompose"))
        # pluggy reads the marker from the function attribute.
        setattr(plugin, hook, hookimpl(specname=hook)(lambda register, _i=impl: _i(register)))
    pm = tf_plugin_manager(plugin)
    catalog = Catalog(pm)
    for category in CATEGORIES:
        names = catalog.names(category)
        expected = "decompose:x-stages" if category == "stages" else f"x-{category}"
        assert names == [expected]


def test_check_plugin_reports_protocol_violations(tf_check_plugin):
    from toolfeedback.testing import check_plugin

    class Good:
        @hookimpl
        def register_rewards(self, register):
            register(Named("ok"))

    class NotAReward:
        @hookimpl
        def register_rewards(self, register):
            class R:
                name = "no-score"
            register(R())

    tf_check_plugin(Good())
    problems = check_plugin(NotAReward())
    assert problems and "does not satisfy Reward" in problems[0]
