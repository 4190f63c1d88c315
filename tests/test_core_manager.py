import json
import os
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

from toolfeedback import create_plugin_manager, hookimpl
from toolfeedback.manager import blocked_names, plugin_infos

EXAMPLE = Path(__file__).parent / "plugin_example"


def test_builtins_come_from_entry_points():
    pm = create_plugin_manager()
    names = {row.name for row in plugin_infos(pm)}
    assert "plugins_verb" in names
    row = next(r for r in plugin_infos(pm) if r.name == "plugins_verb")
    assert row.distribution == "toolfeedback"
    assert "register_commands" in row.hooks


def test_factory_builds_independent_managers():
    a, b = create_plugin_manager(entry_points=False), create_plugin_manager(entry_points=False)

    class P:
        @hookimpl
        def on_train_log(self, step, logs):
            pass

    a.register(P())
    assert a is not b
    assert len(a.get_plugins()) == 1 and len(b.get_plugins()) == 0


def test_block_by_environment_variable(monkeypatch):
    monkeypatch.setenv("TOOLFEEDBACK_BLOCK_PLUGINS", " plugins_verb , other")
    assert blocked_names() == {"plugins_verb", "other"}
    pm = create_plugin_manager()
    assert pm.is_blocked("plugins_verb")
    assert "plugins_verb" not in {r.name for r in plugin_infos(pm)}


def test_block_argument():
    pm = create_plugin_manager(block=["plugins_verb"])
    assert pm.get_plugin("plugins_verb") is None


def test_implementation_without_spec_is_an_error():
    class Typo:
        @hookimpl
        def register_reward(self, register):  # missing "s"
            pass

    with pytest.raises(pluggy.PluginValidationError):
        create_plugin_manager(entry_points=False, plugins=[Typo()])


def test_lifecycle_hooks_reach_every_observer():
    seen = []

    class Observer:
        def __init__(self, tag):
            self.tag = tag

        @hookimpl
        def on_train_log(self, step, logs):
            seen.append((self.tag, step, logs["loss"]))

    pm = create_plugin_manager(entry_points=False, plugins=[Observer("a"), Observer("b")])
    pm.hook.on_train_log(step=3, logs={"loss": 0.5}, job=None)
    assert sorted(seen) == [("a", 3, 0.5), ("b", 3, 0.5)]


@pytest.fixture(scope="module")
def example_install(tmp_path_factory):
    """The example plugin distribution, pip-installed into a temporary folder."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("src")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    import shutil

    src = build / "plugin_example"
    shutil.copytree(EXAMPLE, src)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return target


def _env_with(path):
    env = dict(os.environ)
    env.pop("TOOLFEEDBACK_BLOCK_PLUGINS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    return env


def test_external_plugin_is_listed_with_its_hooks(example_install, cli):
    proc = cli("plugins", "--json", env=_env_with(example_install))
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["example"]["distribution"] == "toolfeedback-example-plugin"
    assert rows["example"]["version"] == "0.3.1"
    assert rows["example"]["hooks"] == ["register_commands", "register_rewards"]
    # The broken entry point is reported on stderr and skipped, never fatal.
    assert "example_broken" not in rows
    assert "example_broken" in proc.stderr and "broken on purpose" in proc.stderr


def test_external_plugin_adds_a_verb_and_a_reward(example_install, cli):
    env = _env_with(example_install)
    proc = cli("hello", "--who", "tests", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello tests"
    proc = cli("plugins", "--json", "--catalog", env=env)
    assert "example_hits" in json.loads(proc.stdout)["catalog"]["rewards"]


def test_broken_plugin_can_be_blocked_silently(example_install, cli):
    env = _env_with(example_install)
    env["TOOLFEEDBACK_BLOCK_PLUGINS"] = "example_broken"
    proc = cli("plugins", env=env)
    assert proc.returncode == 0
    assert "example_broken" not in proc.stderr
    assert "example" in proc.stdout


def test_broken_plugin_in_process_is_recorded(example_install, monkeypatch):
    monkeypatch.syspath_prepend(str(example_install))
    import importlib

    importlib.invalidate_caches()
    reports = []
    pm = create_plugin_manager(report=reports.append)
    assert [f.name for f in pm.load_failures] == ["example_broken"]
    assert reports[0].distribution == "toolfeedback-example-plugin"
    assert "ImportError" in reports[0].error
    assert pm.get_plugin("example") is not None
