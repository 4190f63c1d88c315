"""Plugin options (a plugin's own ``Options`` class, its TOML table, ``--<role>-option``) and
the CLI flags generated from config classes."""

from __future__ import annotations

import argparse
import json

import pytest
from attrs import field, frozen

from helpers.training import FIXTURE
from test_core_manager import _env_with, example_install  # noqa: F401 - the installed example plugin
from toolfeedback import hookimpl
from toolfeedback.checks import at_least
from toolfeedback.cli_flags import add_config_flags, load_from_args
from toolfeedback.errors import ConfigError
from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugin_options import resolve_options


@frozen
class _Config:
    """A verb config as the verbs declare them."""

    name: str = field(default="a", metadata={"help": "a name"})
    ratio: float | None = field(default=None, metadata={"help": "optional float"})
    count: int = field(default=2, validator=at_least(1), metadata={"help": "how many"})
    items: tuple[str, ...] = field(default=(), metadata={"help": "a list"})
    keep: bool = field(default=True, metadata={"help": "keep it", "flag": "--drop"})
    loud: bool = field(default=False, metadata={"help": "be loud"})
    thing: str = field(default="x", metadata={"help": "a plugin", "plugin": "things"})
    thing_options: dict = field(factory=dict, metadata={"help": "its options"})


def _parse(*argv, tmp_path=None, toml=None):
    parser = argparse.ArgumentParser()
    add_config_flags(parser, _Config, section="verb")
    args = parser.parse_args(list(argv))
    if toml is not None:
        path = tmp_path / "c.toml"
        path.write_text(toml)
        args.config = str(path)
    return load_from_args(_Config, args, section="verb")


def test_generated_flags_parse_by_type(tmp_path):
    # `float | None` once parsed as a string through a type-string map
    config = _parse("--ratio", "0.5", "--count", "3", "--items", "a,b", "--drop", "--loud",
                    "--thing", "y", "--thing-option", "k=1", "--thing-option", "s=text")
    assert (config.ratio, config.count, config.items, config.keep, config.loud) == (0.5, 3, ("a", "b"), False, True)
    assert (config.thing, config.thing_options) == ("y", {"k": 1, "s": "text"})
    assert _parse() == _Config()  # no flag given: the defaults


def test_toml_table_then_flags_with_paths(tmp_path):
    toml = '[verb]\ncount = 5\n[verb.thing]\nname = "z"\nk = 2\nj = "kept"\n'
    config = _parse("--thing-option", "k=3", tmp_path=tmp_path, toml=toml)
    assert (config.count, config.thing, config.thing_options) == (5, "z", {"k": 3, "j": "kept"})
    with pytest.raises(ConfigError, match=r"\$\.verb\.count: must be at least 1"):
        _parse("--count", "0", tmp_path=tmp_path, toml=toml)
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        _parse("--thing-option", "novalue")


def test_every_failing_field_is_reported_with_its_path():
    from toolfeedback.config import config_from_dict
    from toolfeedback.train.config import TrainConfig

    with pytest.raises(ConfigError) as info:
        config_from_dict(TrainConfig, {"lr": -1, "tool_workers": 0}, path="$.train")
    assert "$.train.lr: must be positive" in str(info.value)
    assert "$.train.tool_workers: must be at least 1" in str(info.value)


def test_only_declared_options_reach_a_plugin():
    from toolfeedback.registry import Catalog

    catalog = Catalog(create_plugin_manager())
    lora = catalog.get("adapters", "lora")
    assert resolve_options(lora, {"r": 4, "target_modules": "q_proj,v_proj"}, path="$.train.adapter") \
        == lora.Options(r=4, target_modules=("q_proj", "v_proj"))
    with pytest.raises(ConfigError, match=r"\$\.train\.adapter: extra fields found \(rank\)"):
        resolve_options(lora, {"rank": 4}, path="$.train.adapter")
    with pytest.raises(ConfigError, match=r"\$\.train\.adapter: 'full' takes no options \(got: r\)"):
        resolve_options(catalog.get("adapters", "full"), {"r": 4}, path="$.train.adapter")
    # a verb's offers (eval's batch_size) reach only the backends that declare them
    openai = catalog.get("backends", "openai")
    opts = resolve_options(openai, {"base_url": "http://x/v1"}, path="$.eval.backend",
                           hints={"batch_size": 8, "device": "cpu"})
    assert opts.base_url == "http://x/v1"
    hf = resolve_options(catalog.get("backends", "hf"), {}, path="$", hints={"batch_size": 8})
    assert hf.batch_size == 8


def test_eval_gives_a_backend_only_the_options_it_declares():
    # once: "backend 'openai': unknown option(s) batch_size" for every benchmark on openai
    from toolfeedback.evaluate.driver import EvalConfig, load_runtime

    seen = {}

    @frozen
    class ServerOptions:
        base_url: str | None = None

    class Server:
        name, Options = "server", ServerOptions

        def load(self, model, **options):
            seen.update(options)
            return object()

    class Plugin:
        @hookimpl
        def register_backends(self, register):
            register(Server())

    pm = create_plugin_manager(plugins=[Plugin()])
    load_runtime(EvalConfig(evaluator="toolhop", backend="server", model="m", batch_size=4,
                            device="cpu", backend_options={"base_url": "http://h/v1"}), pm)
    assert seen == {"base_url": "http://h/v1"}
    with pytest.raises(ConfigError, match=r"\$\.eval\.backend: extra fields found \(batch_size\)"):
        load_runtime(EvalConfig(backend="server", model="m", backend_options={"batch_size": 2}), pm)


def test_stage_options_reach_the_stages_that_declare_them():
    from toolfeedback.build.pipeline import resolve_stage_options

    @frozen
    class ScaleOptions:
        factor: int = 1

    class Scale:
        name, stage, Options = "mine", "scale", ScaleOptions

    class Deploy:
        name, stage = "mine", "deploy"

    got = resolve_stage_options([Scale(), Deploy()], {"factor": 3})
    assert got == {"scale": ScaleOptions(factor=3), "deploy": None}
    with pytest.raises(ConfigError, match=r"\$\.build\.stages: no chosen stage takes option\(s\) speed"):
        resolve_stage_options([Scale(), Deploy()], {"speed": 3})


def test_plugins_verb_lists_options(capsys):
    from toolfeedback.cli import main

    assert main(["plugins", "--options", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(line.startswith("preset ") for line in listed["adapters:lora"])
    assert any(line.startswith("epsilon ") for line in listed["algorithms:grpo"])


@pytest.mark.slow
def test_external_algorithm_reads_its_option_from_toml_and_flag(example_install, cli, tiny_model, tmp_path):  # noqa: F811
    config = tmp_path / "train.toml"
    config.write_text('[train]\nmax_steps = 1\nnum_generations = 2\nper_device_batch_size = 2\n'
                      'max_new_tokens = 8\nlimit = 2\nquiet = true\n'
                      '[train.algorithm]\nname = "example_clipped"\nclip = 0.1\nnote = "from-toml"\n')
    out = tmp_path / "ckpt"
    proc = cli("train", "--config", str(config), "--model", tiny_model, "--data", str(FIXTURE),
               "--out", str(out), "--algorithm-option", "clip=0.3", env=_env_with(example_install))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "example_options.json").read_text()) == {"clip": 0.3, "note": "from-toml"}
    assert (out / "model.safetensors").is_file()
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["algorithm"] == "example_clipped" and saved["algorithm_options"]["clip"] == 0.3
    # its own validation, with the path
    proc = cli("train", "--config", str(config), "--model", tiny_model, "--data", str(FIXTURE),
               "--out", str(out), "--algorithm-option", "clip=-1", env=_env_with(example_install))
    assert proc.returncode == 2 and "$.train.algorithm.clip: must be positive" in proc.stderr


def test_a_bad_option_in_the_config_file_is_named_before_any_work(tmp_path, capsys):
    from toolfeedback.cli import main

    config = tmp_path / "run.toml"
    config.write_text('[train]\nmodel = "nowhere"\n[train.adapter]\nname = "lora"\nr = 0\n')
    assert main(["train", "--config", str(config), "--data", "d.jsonl", "--out", "o"]) == 2
    assert capsys.readouterr().err == f"error: {config}: $.train.adapter.r: must be at least 1\n"


def test_iterate_passes_plugin_tables_and_merges_adapters(tmp_path):
    # [iterate.train.adapter] is the train verb's [train.adapter]; an adapter that can save
    # itself merged does so inside iterate (the next stage loads a plain model)
    from toolfeedback.train.iterate import IterateConfig, train_config

    pm = create_plugin_manager()
    lora = IterateConfig(model="m", envs="e", out="o",
                         train={"adapter": {"name": "lora", "r": 4}, "algorithm": "grpo"})
    tc = train_config(lora, "m", "d", tmp_path, 1, pm)
    assert (tc.adapter, tc.adapter_options) == ("lora", {"r": 4, "merge": True})
    kept = IterateConfig(model="m", envs="e", out="o", train={"adapter": "lora",
                                                               "adapter_options": {"merge": False}})
    assert train_config(kept, "m", "d", tmp_path, 1, pm).adapter_options == {"merge": False}
    assert train_config(IterateConfig(model="m", envs="e", out="o"), "m", "d", tmp_path, 1,
                        pm).adapter_options == {}


def test_option_keys_read_dashes_as_underscores():
    from toolfeedback.plugin_options import parse_option_items

    assert parse_option_items(["lr-scheduler=cosine", "n=2"], "--x") == {"lr_scheduler": "cosine", "n": 2}
