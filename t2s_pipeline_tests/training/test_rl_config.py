"""RLConfig and the rl-* presets: typed fields with descriptions, bad values rejected naming the field."""

from __future__ import annotations

import pytest

from t2s_pipeline.training.config import PRESETS_DIR, read_preset
from t2s_pipeline.training.reward import RewardConfig
from t2s_pipeline.training.rl_config import RLConfig, load_rl_preset

RL_PRESETS = ("rl-tiny", "rl-qwen2.5-coder-7b")


@pytest.mark.parametrize("name", RL_PRESETS)
def test_every_rl_preset_validates_and_says_how_to_run_it(name):
    text = (PRESETS_DIR / f"{name}.yaml").read_text()
    assert text.startswith("#") and "Run" in text
    cfg = load_rl_preset(name)
    assert isinstance(cfg.reward_config(), RewardConfig)
    assert read_preset(name)["model"]
    assert cfg.batch_problem(1) is None or name != "rl-tiny"


def test_all_shipped_rl_presets_are_tested():
    assert {p.stem for p in PRESETS_DIR.glob("rl-*.yaml")} == set(RL_PRESETS)


def test_tiny_rl_preset_is_cpu_and_hf_generation_and_the_7b_one_uses_vllm_when_there():
    tiny, big = load_rl_preset("rl-tiny"), load_rl_preset("rl-qwen2.5-coder-7b")
    assert (tiny.generation, tiny.precision, tiny.quantization) == ("hf", "fp32", "none")
    assert tiny.use_vllm(cuda=False) is False
    assert big.generation == "auto" and big.quantization == "4bit-nf4"
    assert big.use_vllm(cuda=False) is False  # no GPU: HF generate
    assert big.batch_problem(8) is None


def test_every_field_has_a_description():
    assert all(len(text) > 10 for text in RLConfig.help().values())
    assert {"num_generations", "beta", "learning_rate", "max_completion_length", "temperature", "max_steps"} <= set(
        RLConfig.help())


@pytest.mark.parametrize("values, field", [
    ({"num_generations": 1}, "num_generations"),
    ({"beta": -0.1}, "beta"),
    ({"literal_variants": -1}, "literal_variants"),
    ({"temperature": 0}, "temperature"),
    ({"generation": "tgi"}, "generation"),
    ({"prompt_split": "test"}, "prompt_split"),  # eval_report scores test: RL must never train on it
    ({"top_p": 1.5}, "top_p"),
    ({"optimizer": "lion"}, "optimizer must be one of adamw_torch, sgd"),
    ({"hardest_of": 100}, "max_prompts must be between 1 and 99"),
    ({"hardest_of": 100, "max_prompts": 100}, "max_prompts must be between 1 and 99"),
    ({"hardest_of": 100, "max_prompts": 20, "literal_variants": 2}, "use one or the other"),
    ({"constraint": "grammar", "generation": "vllm"}, "constrained sampling runs in model.generate"),
    ({"constraint": "yes"}, "constraint must be one of default, grammar, rules"),
    ({"reward": {"executes": 2.0}}, "reward"),
    ({"reward": {"timeout": 1}}, "unknown reward config key"),
    ({"debug_inject_nan_at_step": 5, "max_steps": 3}, "debug_inject_nan_at_step"),
])
def test_bad_values_name_the_field(values, field):
    with pytest.raises(ValueError, match=field):
        RLConfig(**values)


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match="unknown RL config key.*group_size"):
        RLConfig.from_dict({"group_size": 8})


def test_a_launch_that_splits_groups_is_refused():
    cfg = RLConfig(num_generations=8, per_device_train_batch_size=4, gradient_accumulation_steps=1)
    assert cfg.batch_problem(2) is None
    assert "not a multiple of num_generations 8" in cfg.batch_problem(1)


def test_vllm_asked_without_vllm_or_gpu_is_an_error():
    with pytest.raises(ValueError, match="generation vllm needs"):
        RLConfig(generation="vllm").use_vllm(cuda=False)


def test_constrained_sampling_makes_auto_generation_pick_hf(monkeypatch):
    monkeypatch.setattr("t2s_pipeline.training.rl_config.vllm_installed", lambda: True)
    assert RLConfig(generation="auto").use_vllm(cuda=True) is True
    assert RLConfig(generation="auto", constraint="rules").use_vllm(cuda=True) is False
    assert RLConfig(generation="auto", constraint="grammar").use_vllm(cuda=True) is False
