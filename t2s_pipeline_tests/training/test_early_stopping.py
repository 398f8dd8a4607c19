"""Model selection inside training: with patience 2 and a learning rate of 0 after step K, training stops at
the expected step and the result is the best model by the metric, not the last."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.pipes import _LocalPipes
from t2s_pipeline.training.train import train

K, EVERY, PATIENCE = 4, 2, 2
RECIPE = dict(lora_r=4, lora_alpha=8, learning_rate=5e-3, warmup_steps=0, lr_scheduler_type="constant_with_warmup",
              max_steps=20, per_device_train_batch_size=2, logging_steps=1, seed=0, save_steps=EVERY,
              save_total_limit=20, eval_steps=EVERY, patience=PATIENCE, debug_zero_lr_after_step=K)


def _run(tmp_path, base, data, selection, **values):
    out = tmp_path / "run"
    metrics = train(str(base), str(data), str(out), TrainConfig(**{**RECIPE, **values}), _LocalPipes(quiet=True),
                    selection=selection)
    return out, metrics, json.loads((out / "selection.json").read_text())


def _adapter_weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


@pytest.mark.slow
def test_patience_stops_after_the_learning_rate_went_to_zero_and_keeps_the_best_loss(
        tiny_base_dir, tokenized_dir, tmp_path):
    out, metrics, selection = _run(tmp_path, tiny_base_dir, tokenized_dir, None, metric_for_best="eval_loss")
    losses = {e["step"]: e["eval_loss"] for e in selection["history"]}
    # Training still moves the weights up to K (the dev loss falls), then they stop changing (it stays).
    assert losses[2] > losses[K] and losses[K + 2] == losses[K + 4] == losses[K]
    # A tie is no improvement: two evaluations after K without one stop training at K + 2 x EVERY.
    assert metrics["stopped_early_at"] == metrics["steps"] == K + PATIENCE * EVERY
    assert metrics["stopped_reason"] == "no_improvement"
    # The result is the model of step K, the best by the metric, not the last step's.
    assert selection["best_step"] == selection["result_step"] == metrics["selected_step"] == K
    assert selection["last_step"] == K + PATIENCE * EVERY
    kept, at_k = _adapter_weights(out / "adapter"), _adapter_weights(out / "checkpoints" / f"checkpoint-{K}")
    assert kept.keys() == at_k.keys() and all((kept[n] == at_k[n]).all() for n in kept)
    first = _adapter_weights(out / "checkpoints" / "checkpoint-2")
    assert any((kept[n] != first[n]).any() for n in kept)
    assert metrics["dev_loss"] == pytest.approx(losses[K])


@pytest.mark.slow
def test_selection_by_generated_execution_accuracy_logs_ex_and_f1_and_keeps_the_first_best(
        tiny_base_dir, tokenized_dir, trajectories_dir, music_databases, tmp_path):
    selection_paths = {"dev_samples": str(trajectories_dir / "dev.jsonl"), "databases_dir": str(music_databases)}
    out, metrics, selection = _run(tmp_path, tiny_base_dir, tokenized_dir, selection_paths,
                                   metric_for_best="execution_accuracy", generation_eval_steps=EVERY,
                                   generation_eval_samples=2, generation_max_new_tokens=8)
    history = selection["history"]
    assert all({"execution_accuracy", "record_f1", "eval_loss"} <= set(e) for e in history)
    values = [e["execution_accuracy"] for e in history]
    best = history[values.index(max(values))]["step"]  # the first evaluation with the highest accuracy
    # After K the weights do not change, so neither does the generated SQL: at most PATIENCE evaluations later
    # training has stopped, and the kept model is the best one, not the last.
    assert metrics["steps"] <= K + PATIENCE * EVERY and metrics["stopped_early_at"] == metrics["steps"]
    assert selection["result_step"] == best < metrics["steps"]
    kept, at_best = _adapter_weights(out / "adapter"), _adapter_weights(out / "checkpoints" / f"checkpoint-{best}")
    assert all((kept[n] == at_best[n]).all() for n in kept)
    logged = [json.loads(line) for line in (out / "loss_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "dev_execution_accuracy" in r] == [e["step"] for e in history]
