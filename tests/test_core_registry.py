import pytest

from toolfeedback import hookimpl
from toolfeedback.contracts import Stage
from toolfeedback.errors import PluginError, UnknownNameError
from toolfeedback.registry import Catalog


class Named:
    """A duck-typed reward (no base class): it has every member, so it is accepted."""

    def __init__(self, name, stage=None):
        self.name = name
        if stage:
            self.stage = stage

    def score(self, outcome):
        return 0.0


class NamedStage(Stage):
    def __init__(self, name, stage):
        self.name, self.stage = name, stage

    def run(self, item, ctx):
        return item


class ProviderA:
    @hookimpl
    def register_rewards(self, register):
        register(Named("alpha"))
        register(Named("beta"))

    @hookimpl
    def register_stages(self, register):
        register(NamedStage("procedural", stage="decompose"))


class ProviderB:
    @hookimpl
    def register_rewards(self, register):
        register(Named("alpha"))


class ProviderC:
    @hookimpl
    def register_stages(self, register):
        # Same name, other stage: stages are keyed by stage and name.
        register(NamedStage("procedural", stage="deploy"))


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


def _minimal(category, name):
    """The smallest subclass of the category's base class (abstract methods stubbed)."""
    from toolfeedback.contracts import BASES

    base = BASES[category]
    body = {m: (lambda self, *args, **kwargs: None) for m in base.__abstractmethods__}
    body.update(name=name, stage="decompose")
    return type(f"Minimal_{category}", (base,), body)()


def test_categories_are_declared_once_and_match_the_hookspecs():
    import inspect

    from toolfeedback import hookspecs
    from toolfeedback.contracts import BASES
    from toolfeedback.registry import CATEGORIES

    specs = {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("register_")}
    assert set(CATEGORIES.values()) == specs
    assert list(CATEGORIES) == list(BASES)
    for category, base in BASES.items():
        assert base.category == category and f"contracts.{base.__name__}" in \
            getattr(hookspecs, CATEGORIES[category]).__doc__


def test_every_catalog_hook_feeds_its_category(tf_plugin_manager):
    # One plugin implementing every catalog hook: each category sees its object.
    from toolfeedback.registry import CATEGORIES

    class All:
        pass

    plugin = All()
    for category, hook in CATEGORIES.items():
        def impl(register, _category=category):
            register(_minimal(_category, f"x-{_category}"))
        # pluggy reads the marker from the function attribute.
        setattr(plugin, hook, hookimpl(specname=hook)(lambda register, _i=impl: _i(register)))
    pm = tf_plugin_manager(plugin)
    catalog = Catalog(pm)
    for category in CATEGORIES:
        names = catalog.names(category)
        expected = "decompose:x-stages" if category == "stages" else f"x-{category}"
        assert names == [expected]
        assert catalog.provider(category, names[0]) == pm.get_name(plugin)


def test_catalog_goes_through_pluggy_wrapper_tryfirst_trylast(tf_plugin_manager):
    # once the Catalog called each implementation itself: a wrapper registered nothing
    order = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def register_rewards(self, register):
            register(Named("wrapped-before"))
            order.append("wrapper-in")
            result = yield
            order.append("wrapper-out")
            register(Named("wrapped-after"))
            return result

    class First:
        @hookimpl(tryfirst=True)
        def register_rewards(self, register):
            order.append("first")
            register(Named("first"))

    class Last:
        @hookimpl(trylast=True)
        def register_rewards(self, register):
            order.append("last")
            register(Named("last"))

    wrapper, first, last = Wrapper(), First(), Last()
    pm = tf_plugin_manager(last, wrapper, first)
    catalog = Catalog(pm)
    assert catalog.names("rewards") == ["first", "last", "wrapped-after", "wrapped-before"]
    assert order == ["wrapper-in", "first", "last", "wrapper-out"]
    assert catalog.provider("rewards", "wrapped-after") == pm.get_name(wrapper)
    assert catalog.provider("rewards", "last") == pm.get_name(last)


def test_catalog_is_cached_per_manager_until_plugins_change(tf_plugin_manager):
    calls = []

    class Counting:
        @hookimpl
        def register_rewards(self, register):
            calls.append(1)
            register(Named("counted"))

    pm = tf_plugin_manager(Counting())
    assert Catalog(pm) is Catalog(pm)
    Catalog(pm).names("rewards"), Catalog(pm).get("rewards", "counted")
    assert len(calls) == 1
    pm.register(ProviderC())
    assert Catalog(pm).names("rewards") == ["counted"] and len(calls) == 2
    assert Catalog(tf_plugin_manager(Counting())) is not Catalog(pm)


def test_an_object_lacking_members_is_refused_clearly(tf_plugin_manager):
    class BareStage:
        @hookimpl
        def register_stages(self, register):
            register(Named("half", stage="scale"))  # no run()

    with pytest.raises(PluginError, match=r"stages: 'scale:half' from plugin .* lacks run "
                                          r"\(see toolfeedback.contracts.Stage\)"):
        Catalog(tf_plugin_manager(BareStage())).names("stages")


def test_a_duck_typed_object_gets_the_base_class_defaults(tf_plugin_manager):
    # no subclassing needed: its own members answer first, the defaults fill in the rest
    class Quick:
        name, stage = "quick", "scale"
        needs_generator = True

        def run(self, item, ctx):
            return item

    class Plugin:
        @hookimpl
        def register_stages(self, register):
            register(quick)

        @hookimpl
        def register_sources(self, register):
            register(Few())

    class Few:
        name = "few"

        def scenarios(self, config, ctx):
            yield from ()

    quick = Quick()
    catalog = Catalog(tf_plugin_manager(Plugin()))
    stage = catalog.get("stages", "scale:quick")
    assert stage.needs_generator is True and stage.run(1, None) == 1 and stage.Options is None
    source = catalog.get("sources", "few")
    assert source.default_stages == "procedural" and source.expected_count(None) is None
    assert source.check(None) is None
    stage.note = "set"
    assert quick.note == "set"


def test_check_plugin_compares_signatures_with_the_base_class(tf_check_plugin):
    from toolfeedback.contracts import Source
    from toolfeedback.testing import check_plugin

    class Good:
        @hookimpl
        def register_rewards(self, register):
            register(Named("ok"))

    class OldSource(Source):
        # the old Protocol said scenarios(config); the pipeline calls scenarios(config, ctx)
        name = "old"

        def scenarios(self, config):
            yield from ()

    class Stale:
        @hookimpl
        def register_sources(self, register):
            register(OldSource())

    tf_check_plugin(Good())
    problems = check_plugin(Stale())
    assert problems == ["sources: 'old': scenarios(config) does not match Source.scenarios(config, ctx)"]


def test_optional_members_come_from_the_base_class(tf_plugin_manager):
    # register_modes / register_tool_formats: a subclass gets the defaults the core calls
    from toolfeedback.contracts import Mode, ToolFormat

    class Terse(Mode):
        name = "terse"

    class Plain(ToolFormat):
        name = "plain"

        def parse(self, text):
            return text

        def render(self, content, calls=()):
            return content or ""

    class Plugin:
        @hookimpl
        def register_modes(self, register):
            register(Terse())

        @hookimpl
        def register_tool_formats(self, register):
            register(Plain())

    catalog = Catalog(tf_plugin_manager(Plugin()))
    mode = catalog.get("modes", "terse")
    assert (mode.thinking, mode.native_thinking, mode.default_max_new_tokens) == (False, False, 1024)
    assert mode.split("text") == (None, "text") and mode.template_kwargs() == {}
    assert catalog.get("tool_formats", "plain").render("hi") == "hi"
