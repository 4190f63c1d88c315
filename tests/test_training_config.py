"""TrainConfig loading and the clear errors of bad training inputs (no model is trained)."""

from __future__ import annotations

import json

import pytest

from helpers.training import FIXTURE, small_config
from toolfeedback.cli import main
from toolfeedback.config import field_help
from toolfeedback.errors import ConfigError, InputError, ToolfeedbackError, UnknownNameError
from toolfeedback.train.job import TrainConfig, prepare_job


def test_toml_section_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[train]\nalgorithm = "reinforce_pp"\nlr = 2e-6\nnum_generations = 8\n'
                    '[train.adapter]\nname = "lora"\ntarget_modules = ["q_proj", "v_proj"]\nr = 4\n')
    config = TrainConfig.load(path, {"lr": 5e-6, "mode": None, "adapter_options": {"r": 8}})
    assert (config.algorithm, config.lr, config.num_generations, config.mode) == ("reinforce_pp", 5e-6, 8, "no-think")
    # a flag overrides one option of the table, not the whole table
    assert (config.adapter, config.adapter_options) == ("lora", {"target_modules": ["q_proj", "v_proj"], "r": 8})


def test_unknown_and_mistyped_keys_name_their_path(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nlearning_rate = 1e-6\n")
    with pytest.raises(ConfigError, match=r"\$\.train.*learning_rate"):
        TrainConfig.load(path)
    path.write_text('[train]\nnum_generations = "many"\n')
    with pytest.raises(ConfigError, match=r"\$\.train\.num_generations"):
        TrainConfig.load(path)


def test_every_field_has_help_and_paper_defaults():
    assert all(field_help(TrainConfig).values())
    from toolfeedback.plugins.policy_gradient import PolicyGradientOptions

    c, o = TrainConfig(), PolicyGradientOptions()
    assert (c.lr, c.num_generations, o.beta, o.entropy_coef, c.epochs, c.max_prompt_length,
            c.reward) == (1e-6, 16, 0.001, 0.001, 1.0, 16384, "solve_f1")


@pytest.mark.parametrize("name, algorithm", [("paper_grpo", "grpo"), ("paper_reinforce_pp", "reinforce_pp")])
def test_paper_config_files_load(repo_root, name, algorithm):
    from toolfeedback.plugins.policy_gradient import PolicyGradientOptions

    config = TrainConfig.load(repo_root / "configs" / f"{name}.toml")
    assert config.algorithm == algorithm
    options = PolicyGradientOptions(**config.algorithm_options)
    assert (config.lr, config.num_generations, options.beta, options.entropy_coef,
            config.max_new_tokens, options.use_vllm) == (1e-6, 16, 0.001, 0.001, 1024, True)
    assert config.per_device_batch_size * config.gradient_accumulation_steps * 8 == 512


def test_missing_model_dir(tmp_path):
    with pytest.raises(ToolfeedbackError, match="no such directory"):
        prepare_job(small_config(tmp_path / "nope", tmp_path / "out"))


def test_bad_data_line_is_named(tmp_path, tiny_model):  # noqa: F811
    data = tmp_path / "d.jsonl"
    good = FIXTURE.read_text().splitlines()[0]
    bad = json.loads(good)
    bad["unsolved_set"] = json.dumps({"get_capital": "Paris"})
    data.write_text(good + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=r"d\.jsonl:2: \$\.unsolved_set\.get_capital"):
        prepare_job(small_config(tiny_model, tmp_path / "out", data=str(data)))
    data.write_text("")
    with pytest.raises(InputError, match="no step samples"):
        prepare_job(small_config(tiny_model, tmp_path / "out", data=str(data)))


@pytest.mark.parametrize("change, message", [
    ({"algorithm": "ppo"}, "no algorithm named 'ppo'"),
    ({"adapter": "qlora"}, "no adapter named 'qlora'"),
    ({"mode": "dream"}, "no mode named 'dream'"),
    ({"reward": "nope"}, "no reward named 'nope'"),
    ({"adapter": "lora", "adapter_options": {"preset": "upper"}},
     r"\$\.train\.adapter\.preset: expected one of 'lower-mlp'"),
    ({"adapter_options": {"preset": "lower-mlp"}}, r"\$\.train\.adapter: 'full' takes no options"),
    ({"algorithm_options": {"epsilon": "wide"}}, r"\$\.train\.algorithm\.epsilon"),
    ({"algorithm_options": {"dpo_beta": 0.1}}, r"\$\.train\.algorithm: extra fields found \(dpo_beta\)"),
    ({"algorithm": "dpo", "algorithm_options": {"beta": 0}}, r"\$\.train\.algorithm\.beta: must be positive"),
    ({"num_generations": 1}, "at least 2"),
    # these once reached torch / TRL and ended in a traceback, or trained anyway
    ({"lr": -1.0}, "lr: must be positive"),
    ({"per_device_batch_size": 0}, "per_device_batch_size: must be at least 1"),
    ({"limit": -1}, "limit: must be at least 1"),
    ({"tool_workers": 0}, "tool_workers: must be at least 1"),
    ({"max_steps": 0}, "max_steps: must be at least 1"),
    ({"temperature": -0.5}, "temperature: must be 0 or more"),
])
def test_bad_names_and_options(tmp_path, tiny_model, change, message):  # noqa: F811
    with pytest.raises((UnknownNameError, ConfigError), match=message):
        prepare_job(small_config(tiny_model, tmp_path / "out", **change))


def test_cli_reports_errors_without_traceback(tmp_path, capsys, tiny_model):  # noqa: F811
    status = main(["train", "--model", str(tiny_model), "--data", str(FIXTURE), "--out",
                   str(tmp_path / "o"), "--algorithm", "ppo"])
    err = capsys.readouterr().err
    assert status == 2 and "error: no algorithm named 'ppo'" in err and "Traceback" not in err
    status = main(["train", "--model", str(tmp_path / "missing"), "--data", str(FIXTURE), "--out", "x"])
    assert status == 2 and "no such directory" in capsys.readouterr().err
    status = main(["train", "--data", str(FIXTURE), "--out", "x"])
    assert status == 2 and "no model given" in capsys.readouterr().err


def test_cli_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--algorithm", "--adapter", "--algorithm-option", "--adapter-option", "--reward",
                 "--mode", "--config", "--max-steps", "--lr", "--num-generations", "--max-new-tokens"):
        assert flag in out
    # plugin-specific settings are options, not flags of the verb
    assert "--lora-preset" not in out and "--dpo-margin" not in out and "[train.algorithm]" in out
    # flags default to None (so only given ones override --config) but show the real default
    assert "(default: 16)" in out and "(default: grpo)" in out and "(default: 1e-06)" in out


def test_docs_list_every_field(repo_root):
    text = (repo_root / "docs" / "training.md").read_text()
    missing = [name for name in field_help(TrainConfig) if f"`{name}`" not in text]
    from toolfeedback.plugins.adapters import LoraOptions
    from toolfeedback.plugins.algo_dpo import DpoOptions
    from toolfeedback.plugins.policy_gradient import PolicyGradientOptions

    for cls in (LoraOptions, DpoOptions, PolicyGradientOptions):
        missing += [f"{cls.__name__}.{n}" for n in field_help(cls) if f"`{n}`" not in text]
    assert not missing


def test_think_mode_needs_a_template_with_the_switch(tmp_path, tiny_model):  # noqa: F811
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    template = model / "chat_template.jinja"
    template.write_text(template.read_text().replace("enable_thinking is defined and enable_thinking is false",
                                                     "false"))
    job = prepare_job(small_config(model, tmp_path / "out", mode="think"))
    with pytest.raises(ToolfeedbackError, match="no enable_thinking switch.*think-prompted"):
        job.load_tokenizer()
    assert prepare_job(small_config(model, tmp_path / "out", mode="think-prompted")).load_tokenizer()


@pytest.mark.parametrize("algorithm", ["grpo", "reinforce_pp"])
def test_default_batch_shape_is_accepted(tmp_path, tiny_model, algorithm):  # noqa: F811
    # TrainConfig's defaults (batch 8, 16 generations) once failed in TRL:
    # "generation_batch_size (8) must be divisible by num_generations (16)".
    from toolfeedback.registry import Catalog

    job = prepare_job(TrainConfig(model=str(tiny_model), data=str(FIXTURE), out=str(tmp_path / "o"),
                                  algorithm=algorithm))
    args = Catalog(job.pm).get("algorithms", algorithm).grpo_args(job)
    assert args.generation_batch_size % job.config.num_generations == 0
    assert args.steps_per_generation % job.config.gradient_accumulation_steps == 0
    explicit = prepare_job(TrainConfig(model=str(tiny_model), data=str(FIXTURE), out=str(tmp_path / "o"),
                                       algorithm=algorithm, algorithm_options={"steps_per_generation": 4},
                                       num_generations=4))
    assert Catalog(explicit.pm).get("algorithms", algorithm).grpo_args(explicit).steps_per_generation == 4


def test_a_directory_as_data_is_named(tmp_path, tiny_model):  # noqa: F811
    with pytest.raises(InputError, match="is a directory"):
        prepare_job(small_config(tiny_model, tmp_path / "out", data=str(tmp_path)))


def test_too_few_prompts_for_one_generation_batch_is_an_error(tmp_path, tiny_model):  # noqa: F811
    # 2 prompts x 2 generations < batch 8: TRL ran 0 steps and a checkpoint was saved anyway
    from toolfeedback.registry import Catalog

    job = prepare_job(TrainConfig(model=str(tiny_model), data=str(FIXTURE), out=str(tmp_path / "o"),
                                  num_generations=2, limit=2, max_new_tokens=8))
    with pytest.raises(ConfigError, match="do not fill one generation batch"):
        Catalog(job.pm).get("algorithms", "grpo").build_trainer(job, executor=None)
