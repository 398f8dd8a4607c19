"""LoRA fine-tuning entry point, run by `accelerate launch` (one or many processes).

    accelerate launch --config_file t2s_pipeline/configs/accelerate/single_process.yaml \
        -m t2s_pipeline.training.train --config run.json

run.json: {"model_dir": ..., "data_dir": <tokenized_splits>, "output_dir": ..., "training": {TrainConfig}},
optionally "checkpoint_dir" (a folder that outlives the run, so a killed run is resumed by the next one;
default output_dir/checkpoints), "resume" (default true), "upload_checkpoints_to" (a store URL each saved
checkpoint is copied to at once: see checkpoint_upload.py) and "wandb" (true: rank 0 logs to Weights &
Biases, configured by the WANDB_* environment variables; default false) and "selection" ({"dev_samples":
trajectories dev.jsonl, "databases_dir": raw_benchmarks databases/}, needed by generation_eval_steps).
Decoder-only and encoder-decoder models (T5, read from the model's config) alike; `finetuning: full`
trains every weight and writes the whole model where the adapter would be.
Writes output_dir/adapter (the final adapter), checkpoints, trainer_state.json and loss_log.jsonl.
Under Dagster Pipes, rank 0 streams progress logs and sends the final metrics as a custom message.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from t2s_pipeline.modeling.model_folder import weight_files
from t2s_pipeline.training.checkpoints import checkpoint_step, last_checkpoint_before, newest_complete_checkpoint
from t2s_pipeline.training.collate import collator_for
from t2s_pipeline.training.config import TrainConfig
from t2s_pipeline.training.model_setup import attach_adapter, load_base_for_training
from t2s_pipeline.training.pipes import leave_process_group, open_pipes_on_rank0
from t2s_pipeline.training.run_figures import (
    batch_token_stats,
    make_progress_callback,
    peak_memory_gib,
    tokens_per_second,
)


@dataclass
class RunPlace:
    """Where and how this process trains: folders, rank, device, precision and the model family."""
    out: Path
    ckpt_dir: Path
    rank: int
    world_size: int
    cuda: bool
    precision: str
    attention: str
    seq2seq: bool
    start: float = field(default_factory=time.monotonic)

    def log_on_rank0(self, log):
        return log if self.rank == 0 else (lambda message: None)


@dataclass
class TrainerParts:
    """The Trainer and the callbacks whose state the run reads afterwards."""
    trainer: object
    guard: object
    selector: object | None
    uploader: object | None


def train(model_dir: str, data_dir: str, output_dir: str, cfg: TrainConfig, pipes,
          checkpoint_dir: str | None = None, resume: bool = True, upload_checkpoints_to: str | None = None,
          report_to_wandb: bool = False, selection: dict | None = None) -> dict:
    """Train; checkpoints go to checkpoint_dir (default output_dir/checkpoints), and to the store at
    upload_checkpoints_to as each is saved. With resume, a complete checkpoint already there (a killed run of
    the same config) is resumed instead of starting over. report_to_wandb: rank 0 reports to Weights & Biases.
    selection: {"dev_samples", "databases_dir"} for the generation eval (training/selection.py).

    The steps, in order: place (folders, device, precision), model, data, trainer, run, save, metrics."""
    from transformers import AutoTokenizer

    place = place_run(model_dir, output_dir, checkpoint_dir, cfg)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = build_model(model_dir, cfg, place)
    data = load_data(data_dir, cfg.eval_samples)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    pipes.log.info(f"world size {place.world_size}; effective batch {cfg.effective_batch(place.world_size)}; "
                   f"{len(data['train'])} train samples; {'encoder-decoder' if place.seq2seq else 'decoder-only'}, "
                   f"{cfg.finetuning} fine-tuning; {trainable:,} trainable of {total:,} parameters; precision "
                   f"{place.precision}; attention {place.attention}"
                   + (f"; initialised from {cfg.init_from}" if cfg.init_from else ""))
    parts = build_trainer(cfg, place, model, tokenizer, data, pipes, upload_checkpoints_to, report_to_wandb,
                          selection)
    run = run_training(parts, place, pipes, resume)
    saved = save_result(parts, place, cfg, tokenizer, data, pipes)
    metrics = {
        **run_metrics(cfg, place, parts, run, saved),
        "train_samples": len(data["train"]),
        "trainable_parameters": trainable,
    }
    if place.rank == 0:
        (place.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def place_run(model_dir: str, output_dir: str, checkpoint_dir: str | None, cfg: TrainConfig) -> RunPlace:
    """Folders, rank and world size, device, precision and attention; the launch must give the batch the
    config expects."""
    import torch

    from t2s_pipeline.modeling.model_folder import is_encoder_decoder
    from t2s_pipeline.training.config import resolve_attention, resolve_precision

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    effective_batch = cfg.effective_batch(world_size)
    if cfg.effective_batch_size and cfg.effective_batch_size != effective_batch:
        raise ValueError(
            f"effective_batch_size {cfg.effective_batch_size} expected, but per_device_train_batch_size "
            f"{cfg.per_device_train_batch_size} x gradient_accumulation_steps {cfg.gradient_accumulation_steps} "
            f"x world size {world_size} = {effective_batch}")
    start = time.monotonic()
    cuda = torch.cuda.is_available()
    seq2seq = is_encoder_decoder(model_dir)
    if seq2seq and cfg.batching == "padding_free":
        raise ValueError("batching padding_free packs decoder-only samples into one row; an encoder-decoder model "
                         "(T5) needs batching: pad")
    # T5 has no sdpa/flash kernels in transformers: its own attention, unless one is asked for by name.
    attention = "default" if seq2seq and cfg.attn_implementation == "auto" else resolve_attention(cfg, cuda)
    return RunPlace(out=out, ckpt_dir=Path(checkpoint_dir) if checkpoint_dir else out / "checkpoints",
                    rank=int(os.environ.get("RANK", "0")), world_size=world_size, cuda=cuda,
                    precision=resolve_precision(cfg, cuda, cuda and torch.cuda.is_bf16_supported()),
                    attention=attention, seq2seq=seq2seq, start=start)


def build_model(model_dir: str, cfg: TrainConfig, place: RunPlace):
    """The base in its precision with the adapter attached (or parts frozen for full fine-tuning)."""
    from transformers import set_seed

    # Seed before the adapter is created: LoRA A is drawn from the global RNG (runs repeat exactly, and a
    # killed run resumed ends where an uninterrupted one would).
    set_seed(cfg.seed)
    base = load_base_for_training(model_dir, cfg, place.precision, place.attention, place.cuda, place.seq2seq)
    return attach_adapter(base, cfg, place.seq2seq)


def load_data(data_dir: str, eval_samples: int = 0):
    """The tokenized splits (tokenized_splits' Arrow DatasetDict), memory-mapped; the dev split cut to its first
    eval_samples when that is set (0 keeps it whole)."""
    from datasets import load_from_disk

    data = load_from_disk(data_dir).remove_columns(["id"])
    if eval_samples and len(data["dev"]) > eval_samples:
        data["dev"] = data["dev"].select(range(eval_samples))
    return data


def build_trainer(cfg: TrainConfig, place: RunPlace, model, tokenizer, data, pipes, upload_checkpoints_to: str | None,
                  report_to_wandb: bool, selection: dict | None) -> TrainerParts:
    """The guarded Trainer with its collator and callbacks: progress, guards, checkpoint upload, selection."""
    from t2s_pipeline.training.callbacks import GuardState, make_guard_callback, make_guarded_trainer_class
    from t2s_pipeline.training.checkpoint_upload import make_checkpoint_upload_callback
    from t2s_pipeline.training.selection import load_selection_items, make_selection_callback, make_zero_lr_callback

    has_dev = len(data["dev"]) > 0
    selector = None
    if cfg.selection_active():
        items = None
        if cfg.generation_eval_steps:
            if not selection:
                raise ValueError("generation_eval_steps needs the run's 'selection' paths (dev samples and databases)")
            items = load_selection_items(selection["dev_samples"], selection["databases_dir"],
                                         cfg.generation_eval_samples)
        selector = make_selection_callback(cfg, items, tokenizer, place.ckpt_dir / "best",
                                           place.ckpt_dir / "selection.json", place.rank == 0,
                                           log=place.log_on_rank0(pipes.log.info))
    guard = GuardState()
    uploader = make_checkpoint_upload_callback(upload_checkpoints_to, log=pipes.log.info, warn=pipes.log.warning) \
        if upload_checkpoints_to else None
    trainer = make_guarded_trainer_class()(
        model=model,
        args=trainer_arguments(cfg, place, has_dev, report_to_wandb),
        train_dataset=data["train"],
        eval_dataset=data["dev"] if has_dev else None,
        data_collator=collator_for(cfg.batching, place.seq2seq, tokenizer, model),
        processing_class=tokenizer,
        callbacks=[make_progress_callback(pipes, place.out / "loss_log.jsonl", place.rank == 0),
                   make_guard_callback(cfg, guard, log=place.log_on_rank0(pipes.log.warning)),
                   *([uploader] if uploader else []), *([selector] if selector else []),
                   *([make_zero_lr_callback(cfg.debug_zero_lr_after_step)] if cfg.debug_zero_lr_after_step else [])],
        guard=guard,
        inject_nan_at_step=cfg.debug_inject_nan_at_step,
    )
    return TrainerParts(trainer, guard, selector, uploader)


def trainer_arguments(cfg: TrainConfig, place: RunPlace, has_dev: bool, report_to_wandb: bool):
    from transformers import TrainingArguments

    keep_best = cfg.keep_best and has_dev
    return TrainingArguments(
        output_dir=str(place.ckpt_dir),
        use_cpu=not place.cuda,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        max_steps=cfg.max_steps,
        num_train_epochs=cfg.num_train_epochs or 1.0,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if cfg.eval_steps and has_dev else "no",
        eval_steps=cfg.eval_steps or None,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=keep_best,
        metric_for_best_model="eval_loss" if keep_best else None,
        greater_is_better=False if keep_best else None,
        bf16=place.precision == "bf16",
        fp16=place.precision == "fp16",
        activation_checkpointing=cfg.activation_checkpointing,
        seed=cfg.seed,
        data_seed=cfg.seed,
        # One W&B run per training, however many processes: only rank 0 reports.
        report_to=["wandb"] if report_to_wandb and place.rank == 0 else [],
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def run_training(parts: TrainerParts, place: RunPlace, pipes, resume: bool) -> dict:
    """Resume from the newest complete checkpoint (if any and asked), measure the batches, train."""
    import itertools
    import shutil

    import torch

    from t2s_pipeline.training.callbacks import quiet_stdout

    trainer = parts.trainer
    quiet_stdout(trainer)
    resume_from = newest_complete_checkpoint(place.ckpt_dir, place.world_size, log=pipes.log.warning) \
        if resume else None
    if resume_from is not None:
        pipes.log.info(f"resuming from {resume_from}")
    if parts.selector is not None:
        parts.selector.trainer = trainer
        if resume_from is not None:
            parts.selector.resume(checkpoint_step(resume_from))
        else:
            shutil.rmtree(place.ckpt_dir / "best", ignore_errors=True)  # a best model of an earlier, unrelated start
    # The batches this run trains on, as collated (a sample of at most 50): their pad share and tokens.
    rng = torch.get_rng_state()  # the look must not move the data order or the dropout draws
    loader = trainer.get_train_dataloader()
    sampled_batches = min(50, len(loader))
    sampled = batch_token_stats(itertools.islice(loader, sampled_batches))
    del loader
    torch.set_rng_state(rng)
    train_start = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return {"result": result, "resume_from": resume_from, "sampled": sampled, "sampled_batches": sampled_batches,
            "train_wall": time.monotonic() - train_start}


def save_result(parts: TrainerParts, place: RunPlace, cfg: TrainConfig, tokenizer, data, pipes) -> dict:
    """Write the result to out/adapter: the selected best model, else (after a guard stop) the last good
    checkpoint, else the final weights; then the trainer state and the kept checkpoints."""
    import shutil

    from t2s_pipeline.training.selection import best_model_step, copy_best

    trainer, out, best_dir = parts.trainer, place.out, place.ckpt_dir / "best"
    result_checkpoint = None
    selected = parts.selector.selection if parts.selector is not None else None
    selected_step = best_model_step(best_dir) if selected is not None else None
    if selected_step is not None and selected_step != selected.best_step:
        pipes.log.warning(f"selection: the saved best model is from step {selected_step}, the history's best from "
                          f"step {selected.best_step} (a resumed run that did not repeat itself exactly)")
    if selected_step is not None:
        # The best model by metric_for_best is the result, not the last weights (nor bad ones after a guard stop).
        eval_loss = next((e.get("eval_loss") for e in selected.history if e["step"] == selected_step), None)
        if place.rank == 0:
            copy_best(best_dir, out / "adapter")
            tokenizer.save_pretrained(out / "adapter")
            (out / "selection.json").write_text(json.dumps({**selected.to_dict(), "result_step": selected_step,
                                                            "last_step": trainer.state.global_step}, indent=2) + "\n")
        result_checkpoint = f"best-{selected_step}"
    elif parts.guard.bad:
        # The weights in memory are bad: the result is the newest checkpoint saved before the bad step.
        eval_loss = None
        good = last_checkpoint_before(place.ckpt_dir, parts.guard.bad_step)
        if good is not None and place.rank == 0:
            (out / "adapter").mkdir(parents=True, exist_ok=True)
            for path in weight_files(good):
                shutil.copy2(path, out / "adapter" / path.name)
            tokenizer.save_pretrained(out / "adapter")
        result_checkpoint = good.name if good is not None else None
    else:
        eval_loss = trainer.evaluate()["eval_loss"] if len(data["dev"]) > 0 else None
        trainer.save_model(str(out / "adapter"))
        if place.rank == 0:
            tokenizer.save_pretrained(out / "adapter")
    if place.rank == 0:
        trainer.state.save_to_json(str(out / "trainer_state.json"))
        if place.ckpt_dir != out / "checkpoints" and place.ckpt_dir.is_dir():
            # The kept checkpoints travel with the artifact.
            for path in place.ckpt_dir.glob("checkpoint-*"):
                shutil.copytree(path, out / "checkpoints" / path.name, dirs_exist_ok=True)
    return {"result_checkpoint": result_checkpoint, "eval_loss": eval_loss, "selected": selected,
            "selected_step": selected_step}


def run_metrics(cfg: TrainConfig, place: RunPlace, parts: TrainerParts, run: dict, saved: dict) -> dict:
    """metrics.json: what ran, how it went, what it cost."""
    trainer, guard, selected, selected_step = parts.trainer, parts.guard, saved["selected"], saved["selected_step"]
    resume_from, eval_loss = run["resume_from"], saved["eval_loss"]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    device_hours = (time.monotonic() - place.start) / 3600.0 * place.world_size
    steps_here = trainer.state.global_step - (checkpoint_step(resume_from) if resume_from else 0)
    return {
        "world_size": place.world_size,
        "effective_batch_size": cfg.effective_batch(place.world_size),
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "precision": place.precision,
        "attn_implementation": place.attention,
        "quantization": cfg.quantization,
        "init_from": cfg.init_from or None,
        "steps": trainer.state.global_step,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train_loss": run["result"].training_loss,
        "dev_loss": eval_loss,
        "dev_perplexity": math.exp(eval_loss) if eval_loss is not None and eval_loss < 50 else None,
        "train_seconds": round(time.monotonic() - place.start, 1),
        "stopped_reason": guard.stopped_reason
        or ("no_improvement" if selected and selected.stopped_early_at else None),
        "bad_step": guard.bad_step if guard.bad else None,
        "bad_value": guard.bad_value,
        "result_checkpoint": saved["result_checkpoint"],
        "architecture": "encoder-decoder" if place.seq2seq else "decoder-only",
        "finetuning": cfg.finetuning,
        "selected_step": selected_step,
        "selected_metric": selected.metric if selected_step is not None else None,
        "selected_value": selected.best_value if selected_step is not None else None,
        "stopped_early_at": selected.stopped_early_at if selected is not None else None,
        "resumed_from": resume_from.name if resume_from is not None else None,
        "checkpoints_uploaded": parts.uploader.uploaded if parts.uploader else None,
        "device_hours": round(device_hours, 6),
        "pad_share": round(run["sampled"]["pad_share"], 4),
        "tokens_per_second": round(tokens_per_second(run["sampled"], run["sampled_batches"], steps_here,
                                                     cfg.gradient_accumulation_steps, place.world_size,
                                                     run["train_wall"]), 1),
        "peak_memory_gib": round(peak_memory_gib(place.cuda), 3),
        "estimated_cost": round(device_hours * cfg.price_per_gpu_hour, 4) if cfg.price_per_gpu_hour else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run.json with model_dir, data_dir, output_dir, training")
    run = json.loads(Path(parser.parse_args(argv).config).read_text())
    cfg = TrainConfig.from_dict(run["training"])
    with open_pipes_on_rank0() as pipes:
        metrics = train(run["model_dir"], run["data_dir"], run["output_dir"], cfg, pipes,
                        checkpoint_dir=run.get("checkpoint_dir"), resume=run.get("resume", True),
                        upload_checkpoints_to=run.get("upload_checkpoints_to"),
                        report_to_wandb=run.get("wandb", False), selection=run.get("selection"))
        # A custom message, not a materialization: the asset's output goes through the IO manager.
        pipes.report_custom_message({"metrics": metrics})
    leave_process_group()


if __name__ == "__main__":
    main()
