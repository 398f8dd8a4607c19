"""Guards: an injected NaN stops training and keeps the last good checkpoint; the stability check fails naming
the step and values; an exploding gradient norm stops; a wall-time budget stops cleanly with a checkpoint."""

from __future__ import annotations

import json
import math

import pytest

from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.training.train import train

BASE = dict(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, per_device_train_batch_size=2,
            logging_steps=1, seed=0)


def _run(tiny_base_dir, tokenized_dir, out, **values):
    cfg = TrainConfig(**{**BASE, **values})
    return train(str(tiny_base_dir), str(tokenized_dir), str(out), cfg, _LocalPipes(quiet=True))


@pytest.fixture(scope="module")
def nan_run(tiny_base_dir, tokenized_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("nan_run")
    metrics = _run(tiny_base_dir, tokenized_dir, out, max_steps=8, save_steps=2, save_total_limit=2,
                   debug_inject_nan_at_step=5)
    return out, metrics


def test_injected_nan_stops_training_at_that_step(nan_run):
    out, metrics = nan_run
    assert metrics["stopped_reason"] == "nan_or_inf"
    assert metrics["bad_step"] == 5 and metrics["steps"] == 5
    assert math.isnan(metrics["bad_value"]["loss"])
    assert json.loads((out / "metrics.json").read_text())["bad_step"] == 5
    # No checkpoint of the bad weights.
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]


def test_the_last_good_checkpoint_is_the_result(nan_run, tiny_base_dir):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out, metrics = nan_run
    assert metrics["result_checkpoint"] == "checkpoint-4"
    kept = load_file(out / "adapter" / "adapter_model.safetensors")
    good = load_file(out / "checkpoints" / "checkpoint-4" / "adapter_model.safetensors")
    assert kept.keys() == good.keys() and all(torch.equal(kept[k], good[k]) for k in kept)
    assert all(torch.isfinite(t).all() for t in kept.values())
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base_dir), out / "adapter")
    logits = model(torch.tensor([[1, 2, 3]])).logits
    assert torch.isfinite(logits).all()


def test_stability_check_fails_naming_the_step_and_values(nan_run):
    from t2s_pipeline.assets.lora_adapter import lora_adapter_training_stable

    out, _ = nan_run
    result = lora_adapter_training_stable(out)
    assert result.passed is False
    assert "step 5" in result.description and "nan_or_inf" in result.description and "loss" in result.description
    assert result.metadata["bad_step"].value == 5


def test_stability_check_passes_a_clean_run_and_reads_old_metrics(tmp_path):
    from t2s_pipeline.assets.lora_adapter import lora_adapter_training_stable

    (tmp_path / "metrics.json").write_text(json.dumps({"first_loss": 2.9, "final_loss": 2.0}))
    assert lora_adapter_training_stable(tmp_path).passed is True
    (tmp_path / "metrics.json").write_text(json.dumps({"first_loss": 2.0, "final_loss": 2.9}))
    assert lora_adapter_training_stable(tmp_path).passed is False


def test_exploding_grad_norm_stops_and_without_a_checkpoint_keeps_no_adapter(tiny_base_dir, tokenized_dir, tmp_path):
    metrics = _run(tiny_base_dir, tokenized_dir, tmp_path, max_steps=5, max_grad_norm_to_stop=1e-6)
    assert metrics["stopped_reason"] == "grad_norm_exploded"
    assert metrics["bad_step"] == 1
    assert metrics["bad_value"]["grad_norm"] > 1e-6 and metrics["bad_value"]["threshold"] == 1e-6
    assert metrics["result_checkpoint"] is None
    assert not (tmp_path / "adapter" / "adapter_config.json").exists()


def test_wall_time_budget_stops_cleanly_with_a_checkpoint_and_a_cost(tiny_base_dir, tokenized_dir, tmp_path):
    metrics = _run(tiny_base_dir, tokenized_dir, tmp_path, max_steps=20, max_wall_hours=1e-9,
                   price_per_gpu_hour=3.0)
    assert metrics["stopped_reason"] == "wall_time_budget"
    assert metrics["steps"] == 1
    assert (tmp_path / "checkpoints" / "checkpoint-1" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert metrics["estimated_cost"] == pytest.approx(metrics["device_hours"] * 3.0, abs=1e-3)
    assert metrics["estimated_cost"] > 0
    from t2s_pipeline.assets.lora_adapter import training_stability

    assert "bad_step" not in training_stability(metrics).metadata  # a budget stop is not instability
