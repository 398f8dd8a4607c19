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
    assert cfg.precision == "fp32" and cfg.quantization == "none"
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


PRESETS = ("tiny", "qwen2.5-coder-1.5b-lora", "qwen2.5-coder-7b-qlora", "qwen3-8b-qlora", "t5-small", "tiny-t5")


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_validates_and_says_how_to_run_it(name):
    from t2s_pipeline.training.config import PRESETS_DIR, read_preset

    text = (PRESETS_DIR / f"{name}.yaml").read_text()
    assert text.startswith("#") and "Run" in text.splitlines()[1] + text.splitlines()[0]
    cfg = load_preset(name)
    assert isinstance(cfg, TrainConfig)
    assert read_preset(name)["model"]
    # Every field the preset writes is one the schema knows (load_preset would have raised otherwise).
    assert set(read_preset(name)["training"]) <= set(TrainConfig.help())


def test_all_shipped_presets_are_tested():
    from t2s_pipeline.training.config import PRESETS_DIR

    # rl-* presets are RLConfig's (test_rl_config.py).
    assert {p.stem for p in PRESETS_DIR.glob("*.yaml") if not p.stem.startswith("rl-")} == set(PRESETS)


def test_tiny_preset_keeps_the_demo_values():
    cfg = load_preset("tiny")
    assert (cfg.lora_r, cfg.lora_alpha, cfg.learning_rate, cfg.warmup_steps, cfg.max_steps,
            cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps) == (16, 32, 3e-3, 10, 1200, 2, 1)
    assert (cfg.quantization, cfg.precision, cfg.batching, cfg.use_dora) == ("none", "fp32", "padding_free", False)
    assert cfg.effective_batch(1) == 2


def test_qlora_presets_are_4bit_nf4_with_bf16_compute_and_double_quant():
    for name in ("qwen2.5-coder-7b-qlora", "qwen3-8b-qlora"):
        cfg = load_preset(name)
        assert (cfg.quantization, cfg.bnb_4bit_compute_dtype, cfg.bnb_4bit_use_double_quant) == \
            ("4bit-nf4", "bf16", True)
        assert cfg.keep_best and cfg.save_steps % cfg.eval_steps == 0
    # The production recipe: 7 per device x 4 accumulation x 7 GPUs = 196 samples a step.
    assert load_preset("qwen2.5-coder-7b-qlora").effective_batch(7) == 196


def test_every_field_has_a_description():
    from dataclasses import fields

    for f in fields(TrainConfig):
        assert f.metadata.get("help"), f.name


@pytest.mark.parametrize("values, names", [
    ({"quantization": "4bit"}, ["quantization"]),
    ({"precision": "fp8"}, ["precision"]),
    ({"attn_implementation": "flash3"}, ["attn_implementation"]),
    ({"batching": "packed_maybe"}, ["batching"]),
    ({"quantization": "4bit-nf4", "precision": "fp16", "bnb_4bit_compute_dtype": "bf16"},
     ["precision", "bnb_4bit_compute_dtype"]),
    ({"quantization": "4bit-nf4", "precision": "bf16", "bnb_4bit_compute_dtype": "fp16"},
     ["precision", "bnb_4bit_compute_dtype"]),
    ({"keep_best": True, "eval_steps": 0, "save_steps": 10}, ["keep_best", "eval_steps"]),
    ({"keep_best": True, "eval_steps": 20, "save_steps": 30}, ["keep_best", "save_steps", "eval_steps"]),
    ({"max_steps": -1, "num_train_epochs": 0}, ["max_steps", "num_train_epochs"]),
    ({"max_steps": 10, "debug_inject_nan_at_step": 11}, ["debug_inject_nan_at_step"]),
    ({"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "effective_batch_size": 12},
     ["effective_batch_size"]),
    ({"max_wall_hours": -1}, ["max_wall_hours"]),
    ({"finetuning": "partial"}, ["finetuning"]),
    ({"metric_for_best": "bleu"}, ["metric_for_best"]),
    ({"freeze_encoder": True}, ["freeze_encoder", "finetuning"]),
    ({"finetuning": "full", "quantization": "4bit-nf4"}, ["finetuning", "quantization"]),
    ({"patience": 2}, ["metric_for_best", "generation_eval_steps"]),
    ({"patience": 2, "metric_for_best": "eval_loss"}, ["eval_loss", "eval_steps"]),
    ({"generation_eval_steps": 5, "keep_best": True, "eval_steps": 5, "save_steps": 5},
     ["keep_best", "generation_eval_steps"]),
    ({"generation_eval_steps": 5, "generation_eval_samples": 0}, ["generation_eval_samples"]),
    ({"patience": -1}, ["patience"]),
])
def test_impossible_combinations_name_every_field(values, names):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict({"max_steps": 10, **values})
    for name in names:
        assert name in str(err.value)


def test_dora_with_4bit_needs_a_recent_peft(monkeypatch):
    from t2s_pipeline.training import config

    monkeypatch.setattr(config, "installed_peft_version", lambda: (0, 9, 0))
    with pytest.raises(ValueError, match="use_dora.*quantization 4bit-nf4.*peft"):
        TrainConfig(use_dora=True, quantization="4bit-nf4", max_steps=5)
    TrainConfig(use_dora=True, max_steps=5)  # DoRA without quantization is fine
    monkeypatch.setattr(config, "installed_peft_version", lambda: (0, 21, 2))
    assert TrainConfig(use_dora=True, quantization="4bit-nf4", max_steps=5).use_dora


def test_quantization_is_accepted_without_a_gpu_in_the_schema():
    """bitsandbytes runs 4-bit and 8-bit on CPU (tests); the schema does not demand CUDA."""
    assert TrainConfig(quantization="8bit", max_steps=5).quantization == "8bit"


def test_precision_and_attention_resolve_per_machine(monkeypatch):
    from t2s_pipeline.training import config

    auto = TrainConfig(max_steps=5)
    assert config.resolve_precision(auto, cuda=False, bf16_supported=False) == "fp32"
    assert config.resolve_precision(auto, cuda=True, bf16_supported=True) == "bf16"
    assert config.resolve_precision(auto, cuda=True, bf16_supported=False) == "fp16"
    with pytest.raises(ValueError, match="fp16"):
        config.resolve_precision(TrainConfig(precision="fp16", max_steps=5), cuda=False, bf16_supported=False)
    with pytest.raises(ValueError, match="bf16"):
        config.resolve_precision(TrainConfig(precision="bf16", max_steps=5), cuda=True, bf16_supported=False)
    monkeypatch.setattr(config, "flash_attention_installed", lambda: False)
    assert config.resolve_attention(auto, cuda=True) == "sdpa"
    with pytest.raises(ValueError, match="flash_attention_2"):
        config.resolve_attention(TrainConfig(attn_implementation="flash_attention_2", max_steps=5), cuda=True)
    monkeypatch.setattr(config, "flash_attention_installed", lambda: True)
    assert config.resolve_attention(auto, cuda=True) == "flash_attention_2"
    assert config.resolve_attention(auto, cuda=False) == "sdpa"


def test_unknown_top_level_preset_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: tiny\nlaunch: ddp\ntraining:\n  max_steps: 3\n")
    with pytest.raises(ValueError, match="launch"):
        load_preset(str(path))


def test_t5_small_preset_is_the_recipe_of_the_t5_system():
    from t2s_pipeline.training.config import read_preset

    cfg = load_preset("t5-small")
    assert read_preset("t5-small")["model"] == "t5-small"
    assert (cfg.finetuning, cfg.learning_rate, cfg.weight_decay, cfg.max_grad_norm, cfg.lr_scheduler_type) == \
        ("full", 1e-4, 0.01, 1.0, "cosine")
    assert cfg.warmup_steps > 0 and cfg.batching == "pad"
    assert cfg.generation_eval_steps and cfg.patience and cfg.generation_num_beams == 5
    assert cfg.metric_for_best == "record_f1" and cfg.eval_steps < cfg.generation_eval_steps


def test_tiny_t5_preset_names_its_model_and_pads():
    from t2s_pipeline.training.config import read_preset

    assert read_preset("tiny-t5")["model"] == "tiny-t5"
    assert load_preset("tiny-t5").batching == "pad"
