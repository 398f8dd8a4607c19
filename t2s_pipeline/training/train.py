"""LoRA fine-tuning entry point, run by `accelerate launch` (one or many processes).

    accelerate launch --config_file t2s_pipeline/configs/accelerate/single_process.yaml \
        -m t2s_pipeline.training.train --config run.json

run.json: {"model_dir": ..., "data_dir": <tokenized_splits>, "output_dir": ..., "training": {TrainConfig}}.
Writes output_dir/adapter (the final adapter), checkpoints, trainer_state.json and loss_log.jsonl.
Under Dagster Pipes, rank 0 streams progress logs and sends the final metrics as a custom message.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.pipes import open_pipes_on_rank0

IGNORE_INDEX = -100


def pad_collator(pad_token_id: int):
    """Pad a batch to its longest sample; labels padded with -100 so padding is never learned."""
    import torch

    def collate(features):
        width = max(len(f["input_ids"]) for f in features)
        batch = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            pad = width - len(f["input_ids"])
            batch["input_ids"].append(list(f["input_ids"]) + [pad_token_id] * pad)
            batch["attention_mask"].append(list(f["attention_mask"]) + [0] * pad)
            batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * pad)
        return {k: torch.tensor(v) for k, v in batch.items()}

    return collate


def make_progress_callback(pipes, loss_log_path: Path, is_rank0: bool):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Streams losses to the loss log and the Pipes log (rank 0 only)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not is_rank0 or not logs:
                return
            record = {"step": state.global_step, "epoch": state.epoch, **logs}
            with open(loss_log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items())
            pipes.log.info(f"step {state.global_step}/{state.max_steps}: {shown}")

    return ProgressCallback()


def train(model_dir: str, data_dir: str, output_dir: str, cfg: TrainConfig, pipes) -> dict:
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    out = Path(output_dir)
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    start = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dtype = torch.bfloat16 if cfg.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    model.config.use_cache = False
    lora = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules, task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    data = load_from_disk(data_dir).remove_columns(["id"])
    pipes.log.info(f"world size {world_size}; {len(data['train'])} train samples; "
                   f"{trainable:,} trainable of {total:,} parameters")
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        use_cpu=not torch.cuda.is_available(),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_steps,
        max_steps=cfg.max_steps,
        num_train_epochs=cfg.num_train_epochs,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if cfg.eval_steps else "no",
        eval_steps=cfg.eval_steps or None,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        save_total_limit=cfg.save_total_limit,
        bf16=cfg.bf16,
        activation_checkpointing=cfg.activation_checkpointing,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=[],
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["dev"] if len(data["dev"]) else None,
        data_collator=pad_collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[make_progress_callback(pipes, out / "loss_log.jsonl", rank == 0)],
    )
    result = trainer.train()
    eval_loss = trainer.evaluate()["eval_loss"] if len(data["dev"]) else None
    trainer.save_model(str(out / "adapter"))
    if rank == 0:
        tokenizer.save_pretrained(out / "adapter")
        trainer.state.save_to_json(str(out / "trainer_state.json"))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    metrics = {
        "world_size": world_size,
        "steps": trainer.state.global_step,
        "train_samples": len(data["train"]),
        "trainable_parameters": trainable,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train_loss": result.training_loss,
        "dev_loss": eval_loss,
        "dev_perplexity": math.exp(eval_loss) if eval_loss is not None and eval_loss < 50 else None,
        "train_seconds": round(time.monotonic() - start, 1),
    }
    if rank == 0:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run.json with model_dir, data_dir, output_dir, training")
    run = json.loads(Path(parser.parse_args(argv).config).read_text())
    cfg = TrainConfig.from_dict(run["training"])
    with open_pipes_on_rank0() as pipes:
        metrics = train(run["model_dir"], run["data_dir"], run["output_dir"], cfg, pipes)
        # A custom message, not a materialization: the asset's output goes through the IO manager.
        pipes.report_custom_message({"metrics": metrics})


if __name__ == "__main__":
    main()
