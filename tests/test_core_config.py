import attrs
import pytest

from toolfeedback.config import config_to_dict, field_help, load_config
from toolfeedback.errors import ConfigError


@attrs.frozen
class Optim:
    lr: float = attrs.field(default=1e-6, metadata={"help": "learning rate"})
    betas: tuple[float, float] = (0.9, 0.999)


@attrs.frozen
class TrainConfig:
    algorithm: str = attrs.field(default="grpo", metadata={"help": "algorithm name"})
    steps: int = 10
    optim: Optim = attrs.field(factory=Optim)


def _toml(tmp_path, text):
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    return path


def test_defaults_file_and_overrides(tmp_path):
    assert load_config(TrainConfig) == TrainConfig()
    path = _toml(tmp_path, '[train]\nalgorithm = "dpo"\nsteps = 5\n[train.optim]\nlr = 3e-5\n')
    cfg = load_config(TrainConfig, path, section="train")
    assert cfg == TrainConfig(algorithm="dpo", steps=5, optim=Optim(lr=3e-5))
    # A CLI flag beats the file; a flag left unset (None) does not.
    cfg = load_config(TrainConfig, path, section="train", overrides={"steps": 7, "algorithm": None})
    assert (cfg.algorithm, cfg.steps) == ("dpo", 7)


def test_unknown_key_is_rejected_with_its_path(tmp_path):
    path = _toml(tmp_path, "[train]\nsteps = 5\n[train.optim]\nlearning_rate = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(TrainConfig, path, section="train")
    assert "$.train.optim" in str(info.value) and "learning_rate" in str(info.value)
    assert str(path) in str(info.value)


def test_bad_type_is_rejected_with_its_path(tmp_path):
    path = _toml(tmp_path, '[train]\nsteps = "many"\n')
    with pytest.raises(ConfigError, match=r"\$\.train\.steps"):
        load_config(TrainConfig, path, section="train")


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(TrainConfig, _toml(tmp_path, "[train\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(TrainConfig, tmp_path / "none.toml")


def test_help_and_dump():
    assert field_help(TrainConfig)["algorithm"] == "algorithm name"
    assert config_to_dict(TrainConfig())["optim"]["lr"] == 1e-6
    assert attrs.evolve(TrainConfig(), steps=3).steps == 3
