"""TrainConfig and presets: unknown keys and impossible values are rejected before anything launches."""

from __future__ import annotations

import pytest

from t2s_pipeline.training.config import TrainConfig, load_preset


def test_tiny_preset_loads():
    import yaml

    from t2s_pipeline.training.config import PRESETS_DIR

    cfg = load_preset("tiny")
    assert isinstance(cfg, TrainConfig)
    written = yaml.safe_load((PRESETS_DIR / "tiny.yaml").read_text())["training"]
    assert {k: getattr(cfg, k) for k in written} == written
    assert cfg.bf16 is False
    assert isinstance(cfg.lora_target_modules, list) and "q_proj" in cfg.lora_target_modules


def test_preset_from_a_yaml_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("training:\n  lora_r: 4\n  max_steps: 7\n")
    cfg = load_preset(str(path))
    assert (cfg.lora_r, cfg.max_steps) == (4, 7)
    assert cfg.lora_alpha == TrainConfig().lora_alpha


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match="lora_rank"):
        TrainConfig.from_dict({"lora_rank": 8, "max_steps": 5})


def test_unknown_key_in_a_preset_file_is_named(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("training:\n  learning_rat: 0.1\n")
    with pytest.raises(ValueError, match="learning_rat"):
        load_preset(str(path))


@pytest.mark.parametrize("values, field", [
    ({"lora_r": 0}, "lora_r"),
    ({"lora_r": -4}, "lora_r"),
    ({"max_steps": 0}, "max_steps"),
    ({"max_steps": -5}, "max_steps"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"lora_dropout": 1.0}, "lora_dropout"),
    ({"max_steps": -1, "num_train_epochs": 0}, "num_train_epochs"),
])
def test_impossible_values_name_the_field(values, field):
    with pytest.raises(ValueError, match=field):
        TrainConfig.from_dict(values)


def test_valid_edge_values_are_accepted():
    assert TrainConfig(max_steps=-1, num_train_epochs=0.5).max_steps == -1
    assert TrainConfig(lora_r=1, lora_dropout=0.0).lora_r == 1
    assert TrainConfig.from_dict(TrainConfig(max_steps=3).to_dict()) == TrainConfig(max_steps=3)


def test_missing_preset_lists_available_presets():
    with pytest.raises(FileNotFoundError, match="no_such_preset") as err:
        load_preset("no_such_preset")
    assert "tiny" in str(err.value)
    assert "available" in str(err.value)
