"""init_from: a second stage starts from an existing adapter's weights, with a fresh optimizer at step 0."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.modeling.model_folder import adapter_folder
from t2s_pipeline.training.model_setup import attach_adapter
from t2s_pipeline.training.train import train

STAGE = dict(lora_alpha=8, learning_rate=1e-2, warmup_steps=0, per_device_train_batch_size=2, logging_steps=1, seed=0)


@pytest.fixture(scope="module")
def stage1(tiny_base_dir, tokenized_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1")
    cfg = TrainConfig(lora_r=4, max_steps=4, **STAGE)
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(out), cfg, _LocalPipes(quiet=True))
    return out, metrics


def test_the_model_starts_from_the_adapter_weights(stage1, tiny_base_dir):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out, _ = stage1
    # A different rank in the config: the adapter's own shape wins.
    cfg = TrainConfig(lora_r=8, max_steps=3, init_from=str(out), **STAGE)
    model = attach_adapter(AutoModelForCausalLM.from_pretrained(tiny_base_dir), cfg)
    saved = load_file(out / "adapter" / "adapter_model.safetensors")
    live = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert live and all(p.requires_grad for p in live.values())
    for name, tensor in saved.items():
        match = [p for n, p in live.items() if n.replace(".default", "").endswith(name.split("base_model.", 1)[-1])]
        assert len(match) == 1, name
        assert torch.equal(match[0].detach(), tensor)


def test_second_stage_counts_from_step_zero(stage1, tiny_base_dir, tokenized_dir, tmp_path):
    first, stage1_metrics = stage1
    cfg = TrainConfig(lora_r=8, max_steps=3, init_from=str(first / "adapter"), **STAGE)
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(tmp_path), cfg, _LocalPipes(quiet=True))
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert metrics["steps"] == state["global_step"] == 3
    assert [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2, 3]
    # The first-stage warm start shows: stage two's first loss is below stage one's first loss.
    assert metrics["first_loss"] < stage1_metrics["first_loss"]
    assert metrics["init_from"] == str(first / "adapter")
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 4


def test_init_from_a_missing_adapter_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="init_from"):
        adapter_folder(tmp_path)
