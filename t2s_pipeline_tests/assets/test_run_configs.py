"""preset_run_config: the run config of a preset on its model, and the one override that scales it down."""

from __future__ import annotations

import yaml

from t2s_pipeline.assets.lora_adapter import LoraAdapterConfig
from t2s_pipeline.assets.rl_adapter import RlAdapterConfig
from t2s_pipeline.assets.run_configs import SCALED_DOWN, merged, preset_run_config
from t2s_pipeline.training.config import TrainConfig, load_preset
from t2s_pipeline.training.rl_config import RLConfig, load_rl_preset


def test_a_preset_trains_its_own_model_unless_another_folder_is_named():
    config = preset_run_config("qwen3-8b-qlora")
    assert config["ops"]["base_model"]["config"]["model"] == "Qwen/Qwen3-8B"
    assert config["ops"]["rl_adapter"]["config"] == {"enabled": False}
    assert preset_run_config("qwen3-8b-qlora", model="/m")["ops"]["base_model"]["config"]["model"] == "/m"


def test_scaled_down_changes_sizes_and_steps_only():
    scaled = preset_run_config("qwen2.5-coder-7b-qlora", "rl-qwen2.5-coder-7b", model="/m", scaled_down=True)
    ops = scaled["ops"]
    sft = load_preset("qwen2.5-coder-7b-qlora").to_dict()
    after = TrainConfig.from_dict({**sft, **LoraAdapterConfig(**ops["lora_adapter"]["config"]).overrides()}).to_dict()
    changed = {k for k in sft if sft[k] != after[k]}
    assert changed == {"max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "warmup_steps",
                       "logging_steps", "eval_steps", "eval_samples", "save_steps", "generation_eval_samples"}
    rl = load_rl_preset("rl-qwen2.5-coder-7b").to_dict()
    rl_after = RLConfig.from_dict({**rl, **RlAdapterConfig(**ops["rl_adapter"]["config"]).overrides()}).to_dict()
    assert {k for k in rl if rl[k] != rl_after[k]} <= {
        "max_steps", "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
        "max_completion_length", "max_prompts", "warmup_steps", "save_steps"}
    assert ops["eval_report"]["config"]["limit"] == yaml.safe_load(SCALED_DOWN.read_text())["ops"]["eval_report"][
        "config"]["limit"]


def test_a_switched_off_rl_stage_gets_no_training_fields():
    ops = preset_run_config("t5-small", scaled_down=True)["ops"]
    assert ops["rl_adapter"]["config"] == {"enabled": False}


def test_merged_goes_key_by_key():
    assert merged({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"c": 4}, "e": 5}) == {"a": {"b": 1, "c": 4}, "d": 3, "e": 5}
