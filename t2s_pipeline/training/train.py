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


def batch_token_stats(batches) -> dict:
    """Real (non-pad) tokens and pad share of collated batches: padded batches carry attention_mask zeros;
    padding-free ones (one flattened row) carry none."""
    real = total = 0
    for batch in batches:
        ids = batch["input_ids"]
        total += ids.numel()
        real += int(batch["attention_mask"].sum()) if "attention_mask" in batch else ids.numel()
    return {"real_tokens": real, "batch_tokens": total, "pad_share": (total - real) / total if total else 0.0}


def _peak_memory_gib(cuda: bool) -> float:
    import torch

    if cuda:
        return torch.cuda.max_memory_allocated() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux: this process's peak RSS


def _tokens_per_second(sampled: dict, sampled_batches: int, steps: int, accumulation: int, world_size: int,
                       seconds: float) -> float:
    """Real tokens trained per second over all processes: the sampled mean per batch x the batches trained."""
    if not sampled_batches or seconds <= 0:
        return 0.0
    return sampled["real_tokens"] / sampled_batches * steps * accumulation * world_size / seconds


def make_progress_callback(pipes, loss_log_path: Path, is_rank0: bool, shown_keys: dict[str, str] | None = None):
    """shown_keys: {log key: name} of the figures the Pipes line shows (default: every logged figure)."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Streams losses to the loss log and the Pipes log (rank 0 only)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not is_rank0 or not logs:
                return
            record = {"step": state.global_step, "epoch": state.epoch, **logs}
            with open(loss_log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            figures = logs if shown_keys is None else {name: logs[k] for k, name in shown_keys.items() if k in logs}
            if not figures:
                return
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
            pipes.log.info(f"step {state.global_step}/{state.max_steps}: {shown}")

    return ProgressCallback()


def _load_model(model_dir: str, cfg: TrainConfig, precision: str, attention: str, cuda: bool, seq2seq: bool = False):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    kwargs = {"dtype": dtype[precision]}
    if attention != "default":
        kwargs["attn_implementation"] = attention
    if cfg.quantization != "none":
        from transformers import BitsAndBytesConfig

        if cfg.quantization == "4bit-nf4":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=dtype[cfg.bnb_4bit_compute_dtype],
                bnb_4bit_use_double_quant=cfg.bnb_4bit_use_double_quant)
            kwargs["dtype"] = dtype[cfg.bnb_4bit_compute_dtype]
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        if cuda:
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(model_dir, **kwargs)
    model.config.use_cache = False
    if cfg.quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.activation_checkpointing)
    elif cfg.activation_checkpointing and cfg.finetuning == "lora":
        # The base is frozen: without this, checkpointed blocks see inputs that need no grad and LoRA gets none.
        model.enable_input_require_grads()
    return model


def _freeze(model, cfg: TrainConfig, seq2seq: bool):
    """Full fine-tuning: keep the encoder and/or the embeddings fixed, as configured."""
    if cfg.freeze_encoder:
        if not seq2seq:
            raise ValueError("freeze_encoder needs an encoder-decoder model (T5); this base is decoder-only")
        embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
        for p in model.get_encoder().parameters():
            if id(p) not in embeddings:  # T5 shares its embeddings with the decoder: freeze_embeddings decides
                p.requires_grad_(False)
    if cfg.freeze_embeddings:
        for module in (model.get_input_embeddings(), model.get_output_embeddings()):
            for p in (module.parameters() if module is not None else []):
                p.requires_grad_(False)
    return model


def _attach_adapter(model, cfg: TrainConfig, seq2seq: bool = False):
    from peft import LoraConfig, PeftModel, get_peft_model

    if cfg.finetuning == "full":
        return _freeze(model, cfg, seq2seq)
    if cfg.init_from:
        # Stage two: the given adapter's weights, trainable; the optimizer and step count start fresh.
        return PeftModel.from_pretrained(model, str(adapter_folder(cfg.init_from)), is_trainable=True)
    lora = LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules, use_dora=cfg.use_dora,
        task_type="SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def adapter_folder(path: str | Path) -> Path:
    """An adapter folder, or a lora_adapter artifact (whose adapter/ is taken)."""
    path = Path(path)
    if (path / "adapter" / "adapter_config.json").is_file():
        return path / "adapter"
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"init_from: no adapter_config.json in {path} or {path / 'adapter'}")
    return path


ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
# What full fine-tuning saves instead of an adapter (sharded weights come with an index file).
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
               "pytorch_model.bin")


def weight_files(path: Path) -> list[Path]:
    """The adapter's or (full fine-tuning) the model's files in a checkpoint."""
    path = Path(path)
    return [p for p in path.iterdir() if p.name in ADAPTER_FILES + MODEL_FILES
            or (p.name.startswith("model-") and p.suffix == ".safetensors")] if path.is_dir() else []


def _has_weights(path: Path) -> bool:
    names = {p.name for p in weight_files(path)}
    adapter = "adapter_config.json" in names and names & {"adapter_model.safetensors", "adapter_model.bin"}
    model = "config.json" in names and (names - {"config.json", "generation_config.json"})
    return bool(adapter or model)


def checkpoint_step(path: Path) -> int:
    try:
        return int(path.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def checkpoint_problems(path: Path, world_size: int = 1) -> list[str]:
    """What a checkpoint lacks to resume exactly: adapter, trainer state, optimizer, scheduler, RNG states.

    Without optimizer.pt the Trainer resumes silently with different losses, so every file is checked first.
    """
    missing = [name for name in ("trainer_state.json",) if not (path / name).is_file()]
    if not _has_weights(path):
        missing.append("adapter_config.json and adapter_model.safetensors (or a full model's config.json and weights)")
    if not any(path.glob("global_step*")):  # DeepSpeed keeps optimizer states in global_step*/
        missing += [name for name in ("optimizer.pt", "scheduler.pt") if not (path / name).is_file()]
    rng = ["rng_state.pth"] if world_size == 1 else [f"rng_state_{r}.pth" for r in range(world_size)]
    missing += [name for name in rng if not (path / name).is_file()]
    return missing


def newest_complete_checkpoint(checkpoints_dir: Path, world_size: int = 1, log=lambda msg: None) -> Path | None:
    """The newest checkpoint that holds every file needed to resume; incomplete ones are skipped (and named)."""
    for path in sorted(Path(checkpoints_dir).glob("checkpoint-*"), key=checkpoint_step, reverse=True):
        missing = checkpoint_problems(path, world_size)
        if not missing:
            return path
        log(f"skipping incomplete checkpoint {path.name}: missing {', '.join(missing)}")
    return None


def last_checkpoint_before(checkpoints_dir: Path, step: int) -> Path | None:
    """The newest checkpoint saved before `step` that holds an adapter."""
    found = [p for p in checkpoints_dir.glob("checkpoint-*")
             if 0 <= checkpoint_step(p) < step and _has_weights(p)]
    return max(found, key=checkpoint_step) if found else None


def train(model_dir: str, data_dir: str, output_dir: str, cfg: TrainConfig, pipes,
          checkpoint_dir: str | None = None, resume: bool = True, upload_checkpoints_to: str | None = None,
          report_to_wandb: bool = False, selection: dict | None = None) -> dict:
    """Train; checkpoints go to checkpoint_dir (default output_dir/checkpoints), and to the store at
    upload_checkpoints_to as each is saved. With resume, a complete checkpoint already there (a killed run of
    the same config) is resumed instead of starting over. report_to_wandb: rank 0 reports to Weights & Biases.
    selection: {"dev_samples", "databases_dir"} for the generation eval (training/selection.py)."""
    import shutil

    import torch
    from datasets import load_from_disk
    from transformers import AutoTokenizer, TrainingArguments, set_seed

    from t2s_pipeline.training.callbacks import GuardState, make_guard_callback, make_guarded_trainer_class, quiet_stdout
    from t2s_pipeline.training.checkpoint_upload import make_checkpoint_upload_callback
    from t2s_pipeline.training.base_model import is_encoder_decoder
    from t2s_pipeline.training.config import resolve_attention, resolve_precision
    from t2s_pipeline.training.selection import (
        best_model_step, copy_best, load_selection_items, make_selection_callback, make_zero_lr_callback,
    )

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else out / "checkpoints"
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    effective_batch = cfg.effective_batch(world_size)
    if cfg.effective_batch_size and cfg.effective_batch_size != effective_batch:
        raise ValueError(
            f"effective_batch_size {cfg.effective_batch_size} expected, but per_device_train_batch_size "
            f"{cfg.per_device_train_batch_size} x gradient_accumulation_steps {cfg.gradient_accumulation_steps} "
            f"x world size {world_size} = {effective_batch}")
    start = time.monotonic()
    cuda = torch.cuda.is_available()
    precision = resolve_precision(cfg, cuda, cuda and torch.cuda.is_bf16_supported())
    seq2seq = is_encoder_decoder(model_dir)
    # T5 has no sdpa/flash kernels in transformers: its own attention, unless one is asked for by name.
    attention = "default" if seq2seq and cfg.attn_implementation == "auto" else resolve_attention(cfg, cuda)
    if seq2seq and cfg.batching == "padding_free":
        raise ValueError("batching padding_free packs decoder-only samples into one row; an encoder-decoder model "
                         "(T5) needs batching: pad")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # Seed before the adapter is created: LoRA A is drawn from the global RNG (runs repeat exactly, and a
    # killed run resumed ends where an uninterrupted one would).
    set_seed(cfg.seed)
    model = _attach_adapter(_load_model(model_dir, cfg, precision, attention, cuda, seq2seq), cfg, seq2seq)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    data = load_from_disk(data_dir).remove_columns(["id"])
    if cfg.eval_samples and len(data["dev"]) > cfg.eval_samples:
        data["dev"] = data["dev"].select(range(cfg.eval_samples))
    pipes.log.info(f"world size {world_size}; effective batch {effective_batch}; {len(data['train'])} train samples; "
                   f"{'encoder-decoder' if seq2seq else 'decoder-only'}, {cfg.finetuning} fine-tuning; "
                   f"{trainable:,} trainable of {total:,} parameters; precision {precision}; attention {attention}"
                   + (f"; initialised from {cfg.init_from}" if cfg.init_from else ""))
    has_dev = len(data["dev"]) > 0
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        use_cpu=not cuda,
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
        load_best_model_at_end=cfg.keep_best and has_dev,
        metric_for_best_model="eval_loss" if cfg.keep_best and has_dev else None,
        greater_is_better=False if cfg.keep_best and has_dev else None,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        activation_checkpointing=cfg.activation_checkpointing,
        seed=cfg.seed,
        data_seed=cfg.seed,
        # One W&B run per training, however many processes: only rank 0 reports.
        report_to=["wandb"] if report_to_wandb and rank == 0 else [],
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    if seq2seq:  # pads inputs and labels apart; makes decoder_input_ids from the labels
        from transformers import DataCollatorForSeq2Seq

        collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE_INDEX)
    elif cfg.batching == "padding_free":
        from transformers import DataCollatorWithFlattening

        collator = DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)
    else:
        collator = pad_collator(tokenizer.pad_token_id)
    selector = None
    best_dir = ckpt_dir / "best"
    if cfg.selection_active():
        items = None
        if cfg.generation_eval_steps:
            if not selection:
                raise ValueError("generation_eval_steps needs the run's 'selection' paths (dev samples and databases)")
            items = load_selection_items(selection["dev_samples"], selection["databases_dir"],
                                         cfg.generation_eval_samples)
        selector = make_selection_callback(cfg, items, tokenizer, best_dir, ckpt_dir / "selection.json", rank == 0,
                                           log=pipes.log.info if rank == 0 else (lambda m: None))
    guard = GuardState()
    uploader = make_checkpoint_upload_callback(upload_checkpoints_to, log=pipes.log.info, warn=pipes.log.warning) \
        if upload_checkpoints_to else None
    trainer = make_guarded_trainer_class()(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["dev"] if has_dev else None,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[make_progress_callback(pipes, out / "loss_log.jsonl", rank == 0),
                   make_guard_callback(cfg, guard, log=pipes.log.warning if rank == 0 else (lambda m: None)),
                   *([uploader] if uploader else []), *([selector] if selector else []),
                   *([make_zero_lr_callback(cfg.debug_zero_lr_after_step)] if cfg.debug_zero_lr_after_step else [])],
        guard=guard,
        inject_nan_at_step=cfg.debug_inject_nan_at_step,
    )
    quiet_stdout(trainer)
    resume_from = newest_complete_checkpoint(ckpt_dir, world_size, log=pipes.log.warning) if resume else None
    if resume_from is not None:
        pipes.log.info(f"resuming from {resume_from}")
    if selector is not None:
        selector.trainer = trainer
        if resume_from is not None:
            selector.resume(checkpoint_step(resume_from))
        else:
            shutil.rmtree(best_dir, ignore_errors=True)  # a best model of an earlier, unrelated start
    # The batches this run trains on, as collated (a sample of at most 50): their pad share and tokens.
    import itertools

    rng = torch.get_rng_state()  # the look must not move the data order or the dropout draws
    loader = trainer.get_train_dataloader()
    sampled_batches = min(50, len(loader))
    sampled = batch_token_stats(itertools.islice(loader, sampled_batches))
    del loader
    torch.set_rng_state(rng)
    train_start = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_wall = time.monotonic() - train_start
    result_checkpoint = None
    selected = selector.selection if selector is not None else None
    selected_step = best_model_step(best_dir) if selected is not None else None
    if selected_step is not None and selected_step != selected.best_step:
        pipes.log.warning(f"selection: the saved best model is from step {selected_step}, the history's best from "
                          f"step {selected.best_step} (a resumed run that did not repeat itself exactly)")
    if selected_step is not None:
        # The best model by metric_for_best is the result, not the last weights (nor bad ones after a guard stop).
        eval_loss = next((e.get("eval_loss") for e in selected.history if e["step"] == selected_step), None)
        if rank == 0:
            copy_best(best_dir, out / "adapter")
            tokenizer.save_pretrained(out / "adapter")
            (out / "selection.json").write_text(json.dumps({**selected.to_dict(), "result_step": selected_step,
                                                            "last_step": trainer.state.global_step}, indent=2) + "\n")
        result_checkpoint = f"best-{selected_step}"
    elif guard.bad:
        # The weights in memory are bad: the result is the newest checkpoint saved before the bad step.
        eval_loss = None
        good = last_checkpoint_before(ckpt_dir, guard.bad_step)
        if good is not None and rank == 0:
            (out / "adapter").mkdir(parents=True, exist_ok=True)
            for path in weight_files(good):
                shutil.copy2(path, out / "adapter" / path.name)
            tokenizer.save_pretrained(out / "adapter")
        result_checkpoint = good.name if good is not None else None
    else:
        eval_loss = trainer.evaluate()["eval_loss"] if has_dev else None
        trainer.save_model(str(out / "adapter"))
        if rank == 0:
            tokenizer.save_pretrained(out / "adapter")
    if rank == 0:
        trainer.state.save_to_json(str(out / "trainer_state.json"))
        if ckpt_dir != out / "checkpoints" and ckpt_dir.is_dir():
            # The kept checkpoints travel with the artifact.
            for path in ckpt_dir.glob("checkpoint-*"):
                shutil.copytree(path, out / "checkpoints" / path.name, dirs_exist_ok=True)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    wall_hours = (time.monotonic() - start) / 3600.0
    device_hours = wall_hours * world_size
    metrics = {
        "world_size": world_size,
        "effective_batch_size": effective_batch,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "precision": precision,
        "attn_implementation": attention,
        "quantization": cfg.quantization,
        "init_from": cfg.init_from or None,
        "steps": trainer.state.global_step,
        "train_samples": len(data["train"]),
        "trainable_parameters": trainable,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train_loss": result.training_loss,
        "dev_loss": eval_loss,
        "dev_perplexity": math.exp(eval_loss) if eval_loss is not None and eval_loss < 50 else None,
        "train_seconds": round(time.monotonic() - start, 1),
        "stopped_reason": guard.stopped_reason or ("no_improvement" if selected and selected.stopped_early_at else None),
        "bad_step": guard.bad_step if guard.bad else None,
        "bad_value": guard.bad_value,
        "result_checkpoint": result_checkpoint,
        "architecture": "encoder-decoder" if seq2seq else "decoder-only",
        "finetuning": cfg.finetuning,
        "selected_step": selected_step,
        "selected_metric": selected.metric if selected_step is not None else None,
        "selected_value": selected.best_value if selected_step is not None else None,
        "stopped_early_at": selected.stopped_early_at if selected is not None else None,
        "resumed_from": resume_from.name if resume_from is not None else None,
        "checkpoints_uploaded": uploader.uploaded if uploader else None,
        "device_hours": round(device_hours, 6),
        "pad_share": round(sampled["pad_share"], 4),
        "tokens_per_second": round(_tokens_per_second(sampled, sampled_batches, trainer.state.global_step
                                                      - (checkpoint_step(resume_from) if resume_from else 0),
                                                      cfg.gradient_accumulation_steps, world_size, train_wall), 1),
        "peak_memory_gib": round(_peak_memory_gib(cuda), 3),
        "estimated_cost": round(device_hours * cfg.price_per_gpu_hour, 4) if cfg.price_per_gpu_hour else None,
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
        metrics = train(run["model_dir"], run["data_dir"], run["output_dir"], cfg, pipes,
                        checkpoint_dir=run.get("checkpoint_dir"), resume=run.get("resume", True),
                        upload_checkpoints_to=run.get("upload_checkpoints_to"),
                        report_to_wandb=run.get("wandb", False), selection=run.get("selection"))
        # A custom message, not a materialization: the asset's output goes through the IO manager.
        pipes.report_custom_message({"metrics": metrics})
    leave_process_group()


def leave_process_group() -> None:
    """End a multi-process run cleanly: every rank waits for the others, then leaves the process group. Left to
    the interpreter's exit, a rank whose work was done aborted now and then on the CPU ("terminate called
    without an active exception", exit -6; seen in CI on 2-process gloo runs), which failed the launch."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
