"""An encoder-decoder model (the tiny T5) through training, evaluation and merge: full fine-tuning with a
frozen encoder, LoRA on T5's q and v, beam search by default, the merged or saved model as the artifact."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.training.train import train

STEPS = 3
RECIPE = dict(learning_rate=1e-2, warmup_steps=0, max_steps=STEPS, per_device_train_batch_size=2, logging_steps=1,
              seed=0, batching="pad")


def _weights(model_dir):
    from transformers import AutoModelForSeq2SeqLM

    return {n: p.detach().clone() for n, p in AutoModelForSeq2SeqLM.from_pretrained(model_dir).named_parameters()}


@pytest.fixture(scope="module")
def full_run(tiny_t5_dir, t5_tokenized_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("t5_full")
    cfg = TrainConfig(finetuning="full", freeze_encoder=True, **RECIPE)
    return out, train(str(tiny_t5_dir), str(t5_tokenized_dir), str(out), cfg, _LocalPipes(quiet=True))


@pytest.fixture(scope="module")
def lora_run(tiny_t5_dir, t5_tokenized_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("t5_lora")
    cfg = TrainConfig(lora_r=4, lora_alpha=8, lora_target_modules=("q", "v"), **RECIPE)
    return out, train(str(tiny_t5_dir), str(t5_tokenized_dir), str(out), cfg, _LocalPipes(quiet=True))


@pytest.mark.slow
def test_full_fine_tuning_with_a_frozen_encoder_moves_only_the_decoder(full_run, tiny_t5_dir):
    out, metrics = full_run
    assert metrics["architecture"] == "encoder-decoder" and metrics["finetuning"] == "full"
    assert metrics["steps"] == STEPS and metrics["final_loss"] > 0
    before, after = _weights(tiny_t5_dir), _weights(out / "adapter")
    changed = {n for n in before if not (before[n] == after[n]).all()}
    assert "shared.weight" in changed  # the embeddings, shared with the decoder, stay trainable
    assert changed - {"shared.weight"} and all(n.startswith("decoder.") for n in changed - {"shared.weight"}), changed
    assert any(n.startswith("encoder.block") for n in before)  # the encoder has weights: none of them moved


@pytest.mark.slow
def test_freeze_embeddings_keeps_the_shared_embeddings(tiny_t5_dir, t5_tokenized_dir, tmp_path):
    cfg = TrainConfig(finetuning="full", freeze_embeddings=True, **{**RECIPE, "max_steps": 1})
    train(str(tiny_t5_dir), str(t5_tokenized_dir), str(tmp_path), cfg, _LocalPipes(quiet=True))
    before, after = _weights(tiny_t5_dir), _weights(tmp_path / "adapter")
    assert (before["shared.weight"] == after["shared.weight"]).all()
    assert not (before["encoder.block.0.layer.0.SelfAttention.q.weight"]
                == after["encoder.block.0.layer.0.SelfAttention.q.weight"]).all()


@pytest.mark.slow
def test_lora_on_t5_targets_q_and_v_as_a_seq2seq_adapter(lora_run):
    out, metrics = lora_run
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_2_SEQ_LM" and set(adapter["target_modules"]) == {"q", "v"}
    assert metrics["trainable_parameters"] < 10_000


@pytest.mark.slow
@pytest.mark.parametrize("run", ["full_run", "lora_run"])
def test_evaluation_generates_with_five_beams_and_merge_writes_a_plain_t5(run, request, tiny_t5_dir,
                                                                          trajectories_dir, music_databases, tmp_path):
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from t2s_pipeline.modeling.generate import load_model
    from t2s_pipeline.evaluation.report import evaluate
    from t2s_pipeline.training.merge import merge_adapter

    out, _ = request.getfixturevalue(run)
    report = evaluate(tiny_t5_dir, out / "adapter", trajectories_dir, music_databases.parent, tmp_path / "report",
                      max_new_tokens=8, log=lambda m: None, plots=False)
    assert report["architecture"] == "encoder-decoder" and report["settings"]["num_beams"] == 5
    assert report["fine_tuned"]["loss"] is not None and report["base"]["loss"] != report["fine_tuned"]["loss"]
    stats = merge_adapter(tiny_t5_dir, out / "adapter", tmp_path / "merged")
    merged = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "merged")
    assert not any("lora" in n for n, _ in merged.named_parameters())
    model, tokenizer = load_model(str(tiny_t5_dir), str(out / "adapter"))
    ids = tokenizer(["Question: How many singers?"], return_tensors="pt", add_special_tokens=False)["input_ids"]
    labels = torch.tensor([[tokenizer.eos_token_id]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids, labels=labels).logits, model(input_ids=ids, labels=labels).logits,
                              atol=1e-5)
    assert stats["merged"].startswith("full" if run == "full_run" else "LoRA")
