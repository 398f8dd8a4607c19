"""The LoRA training entry point, run in-process for a few steps on the tiny model."""

from __future__ import annotations

import json
import math

import pytest

from t2s_pipeline.modeling.tokenize import IGNORE_INDEX
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.training.collate import pad_collator
from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.training.train import train

STEPS = 5


@pytest.fixture(scope="module")
def trained(tiny_base_dir, tokenized_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora")
    cfg = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=STEPS,
                      per_device_train_batch_size=2, logging_steps=1, seed=0)
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(out), cfg, _LocalPipes(quiet=True))
    return out, metrics, cfg


def test_writes_the_adapter(trained, tiny_base_dir):
    out, _, cfg = trained
    adapter_config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["r"] == cfg.lora_r
    assert adapter_config["lora_alpha"] == cfg.lora_alpha
    assert set(adapter_config["target_modules"]) == set(cfg.lora_target_modules)
    assert any(p.name.startswith("adapter_model") for p in (out / "adapter").iterdir())
    # The tokenizer travels with the adapter (merge and evaluation read it from there).
    assert (out / "adapter" / "tokenizer.json").is_file()


def test_trainer_state_counts_the_steps(trained):
    out, metrics, _ = trained
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS == metrics["steps"]
    assert [h["step"] for h in state["log_history"] if "loss" in h] == list(range(1, STEPS + 1))


def test_loss_log_has_one_finite_loss_per_logged_step(trained):
    out, _, _ = trained
    records = list(read_jsonl(out / "loss_log.jsonl"))
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == STEPS
    assert all(math.isfinite(x) and x > 0 for x in losses)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, STEPS + 1))


def test_metrics_are_finite_and_match_the_log(trained):
    out, metrics, _ = trained
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == metrics
    losses = [r["loss"] for r in read_jsonl(out / "loss_log.jsonl") if "loss" in r]
    assert metrics["first_loss"] == losses[0] and metrics["final_loss"] == losses[-1]
    for key in ("first_loss", "final_loss", "train_loss", "dev_loss", "dev_perplexity"):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), key
    assert metrics["dev_perplexity"] == pytest.approx(math.exp(metrics["dev_loss"]))
    assert metrics["train_samples"] == 8
    assert metrics["world_size"] == 1
    assert 0 < metrics["trainable_parameters"]


def test_adapter_weights_moved_from_initialisation(trained):
    """LoRA B starts at zero; after training with a high lr it must not be."""
    from safetensors.torch import load_file

    out, _, _ = trained
    weights = load_file(out / "adapter" / "adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().max() > 0 for t in lora_b)


def test_pad_collator_pads_labels_with_ignore_index_and_ids_with_pad():
    import torch

    collate = pad_collator(pad_token_id=7)
    batch = collate([
        {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [-100, 2, 3]},
        {"input_ids": [4], "attention_mask": [1], "labels": [4]},
    ])
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["input_ids"].dtype == torch.long and batch["labels"].dtype == torch.long


def test_padding_free_batches_train_without_pad_tokens(tiny_base_dir, tokenized_dir, tmp_path):
    from datasets import load_from_disk
    from transformers import DataCollatorWithFlattening

    rows = [dict(r) for r in load_from_disk(str(tokenized_dir))["train"].select(range(3))]
    batch = DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)(rows)
    assert batch["input_ids"].shape == (1, sum(len(r["input_ids"]) for r in rows))  # no pad token at all
    assert (batch["position_ids"][0] == 0).sum().item() == 3  # positions restart for every sample
    cfg = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=2,
                      per_device_train_batch_size=2, logging_steps=1, batching="padding_free", seed=0)
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(tmp_path), cfg, _LocalPipes(quiet=True))
    assert metrics["steps"] == 2 and math.isfinite(metrics["final_loss"])
    assert metrics["effective_batch_size"] == 2 and metrics["precision"] == "fp32"


@pytest.fixture(scope="module")
def wider_base_dir(tiny_base_dir, tmp_path_factory):
    """The tiny base's tokenizer on a model wide enough for bitsandbytes' 4-bit blocks (hidden 128)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("wider_base")
    config = AutoConfig.from_pretrained(tiny_base_dir)
    config.hidden_size, config.intermediate_size, config.head_dim = 128, 256, 64
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_base_dir).save_pretrained(out)
    return out


@pytest.mark.parametrize("extra", [{"activation_checkpointing": True}, {"use_dora": True},
                                   {"quantization": "8bit"}, {"quantization": "4bit-nf4", "precision": "fp32",
                                                              "bnb_4bit_compute_dtype": "fp32"}])
def test_recipe_options_train_on_the_tiny_model(tiny_base_dir, wider_base_dir, tokenized_dir, tmp_path, extra):
    """Activation checkpointing, DoRA and bitsandbytes 8-bit / 4-bit NF4 (which run on CPU too) train two steps."""
    if "quantization" in extra:
        pytest.importorskip("bitsandbytes")
        tiny_base_dir = wider_base_dir
    cfg = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=1e-2, warmup_steps=0, max_steps=2,
                      per_device_train_batch_size=2, logging_steps=1, seed=0, **extra)
    metrics = train(str(tiny_base_dir), str(tokenized_dir), str(tmp_path), cfg, _LocalPipes(quiet=True))
    assert metrics["steps"] == 2 and math.isfinite(metrics["final_loss"])
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()


def test_throughput_figures_are_reported(trained):
    _, metrics, _ = trained
    assert 0.0 <= metrics["pad_share"] < 1.0
    assert metrics["tokens_per_second"] > 0 and metrics["peak_memory_gib"] > 0


def test_batch_token_stats_count_pads_and_padding_free_has_none():
    from transformers import DataCollatorWithFlattening

    from t2s_pipeline.training.run_figures import batch_token_stats

    rows = [{"input_ids": [1, 2, 3, 4], "attention_mask": [1, 1, 1, 1], "labels": [1, 2, 3, 4]},
            {"input_ids": [5], "attention_mask": [1], "labels": [5]}]
    padded = batch_token_stats([pad_collator(0)(rows)])
    assert (padded["real_tokens"], padded["batch_tokens"], padded["pad_share"]) == (5, 8, 3 / 8)
    flat = batch_token_stats([DataCollatorWithFlattening()(rows)])
    assert flat["pad_share"] == 0.0 and flat["real_tokens"] == 5
