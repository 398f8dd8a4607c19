"""lora_adapter: LoRA training launched as an `accelerate launch` subprocess through Dagster Pipes."""


import json
import math
from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import scratch_dir
from t2s_pipeline.assets.training_launch import (
    fmt,
    launch_training,
    log_rows_by_step,
    stage_checkpoints,
    training_metadata,
)
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.storage import DirectoryIOManager
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline.training.config import load_preset
from t2s_pipeline.training.stage import BAD_STOPS, describe_stop, jsonable


class LoraAdapterConfig(dg.Config):
    preset: str = Field(default="tiny", description="Training preset in t2s_pipeline/configs/ (name) or a YAML path.")
    max_steps: Optional[int] = Field(default=None, description="Override the preset's optimizer steps.")
    learning_rate: Optional[float] = Field(default=None, description="Override the preset's peak learning rate.")
    seed: Optional[int] = Field(default=None, description="Override the preset's seed.")
    init_from: Optional[str] = Field(
        default=None, description="Start from this adapter's weights (an adapter folder or a lora_adapter "
                                  "artifact) with a fresh optimizer at step 0: two-stage training.")
    max_wall_hours: Optional[float] = Field(
        default=None, description="Override the preset's wall-time budget (hours; stops cleanly with a checkpoint).")
    resume: bool = Field(
        default=True, description="Resume a killed run of the same training config from its newest complete "
                                  "checkpoint (optimizer, scheduler and RNG files checked first).")
    price_per_gpu_hour: Optional[float] = Field(
        default=None, description="Override the preset's price per device hour (for the estimated cost).")
    # Sizes, so that a hub preset scales down to a smoke run (configs/run/scaled_down.yaml) with nothing else changed.
    per_device_train_batch_size: Optional[int] = Field(default=None, description="Override the preset's batch.")
    gradient_accumulation_steps: Optional[int] = Field(default=None, description="Override the preset's accumulation.")
    warmup_steps: Optional[int] = Field(default=None, description="Override the preset's warmup steps.")
    logging_steps: Optional[int] = Field(default=None, description="Override the preset's logging interval.")
    eval_steps: Optional[int] = Field(default=None, description="Override the preset's dev-loss interval.")
    save_steps: Optional[int] = Field(default=None, description="Override the preset's checkpoint interval.")
    eval_samples: Optional[int] = Field(default=None, description="Override the preset's dev samples per loss eval.")
    generation_eval_samples: Optional[int] = Field(default=None, description="Override the preset's dev questions "
                                                   "per generation eval.")

    def overrides(self) -> dict:
        """The preset fields this config sets (every field but preset and resume)."""
        return {k: v for k, v in self.model_dump().items() if k not in ("preset", "resume") and v is not None}


@dg.asset(
    code_version="1",
    group_name="training",
    kinds={"pytorch", "accelerate"},
    description="A LoRA adapter (or, with finetuning: full, the whole model) trained on tokenized_splits by an "
                "`accelerate launch` subprocess (Dagster Pipes), decoder-only or encoder-decoder (T5): the result "
                "(the best by metric_for_best when generation_eval_steps selects), trainer_state.json, the loss "
                "log and metrics. With s3:// storage each "
                "checkpoint is uploaded as it is saved, so a run whose machine was lost resumes elsewhere.",
)
def lora_adapter(context: dg.AssetExecutionContext, config: LoraAdapterConfig, launcher: AccelerateLauncher,
                 tracking: WandbTracking, io_manager: dg.ResourceParam[DirectoryIOManager],
                 tokenized_splits: Path, base_model: Path, trajectories: Path,
                 raw_benchmarks: Path) -> dg.Output[Path]:
    cfg = load_preset(config.preset)
    cfg = type(cfg).from_dict({**cfg.to_dict(), **config.overrides()})
    world_size = launcher.world_size()
    if cfg.effective_batch_size and cfg.effective_batch(world_size) != cfg.effective_batch_size:
        raise ValueError(f"effective_batch_size {cfg.effective_batch_size} expected, but the launch gives "
                         f"{cfg.per_device_train_batch_size} per device x {cfg.gradient_accumulation_steps} "
                         f"accumulation x {world_size} processes = {cfg.effective_batch(world_size)}")
    out = scratch_dir(context)
    run = {"model_dir": str(base_model), "data_dir": str(tokenized_splits), "training": cfg.to_dict(),
           # The generation eval (model selection) reads dev questions and runs SQL on their databases.
           "selection": {"dev_samples": str(trajectories / "dev.jsonl"),
                         "databases_dir": str(raw_benchmarks / "databases")}}
    metrics = launch_training(context, run, out, cfg.to_dict(), [base_model, tokenized_splits], launcher, tracking,
                              io_manager, config.resume)
    metadata = training_metadata(metrics, out, config.preset, "LoRA training", loss_table(out / "loss_log.jsonl"))
    if tracking.enabled:
        metadata["wandb_dir"] = dg.MetadataValue.path(str(tracking.run_dir()))
    # A Pipes session requires typed results: the directory goes out as an explicit Output.
    return dg.Output(out, metadata=metadata)


def resumable_checkpoint_dir(cfg, base_model: Path, tokenized_splits: Path) -> Path:
    """The local checkpoint folder of lora_adapter runs of this config on these inputs."""
    return stage_checkpoints("lora_adapter", cfg.to_dict(), [base_model, tokenized_splits]).local


def loss_table(loss_log: Path) -> str:
    lines = ["| step | loss | eval_loss | learning_rate |", "|---|---|---|---|"]
    lines += [f"| {r['step']} | {fmt(r.get('loss'))} | {fmt(r.get('eval_loss'))} | {fmt(r.get('learning_rate'))} |"
              for r in log_rows_by_step(loss_log) if "loss" in r or "eval_loss" in r]
    return "\n".join(lines)


@dg.asset_check(asset=lora_adapter, description="The training run is stable: no NaN/inf loss or exploding gradient "
                                                  "stopped it, every logged loss is finite and the loss fell.")
def lora_adapter_training_stable(lora_adapter: Path) -> dg.AssetCheckResult:
    return training_stability(json.loads((lora_adapter / "metrics.json").read_text()))


def training_stability(metrics: dict) -> dg.AssetCheckResult:
    first, final = metrics.get("first_loss"), metrics.get("final_loss")
    finite = all(v is not None and math.isfinite(v) for v in (first, final))
    metadata = {"first_loss": first if finite else 0.0, "final_loss": final if finite else 0.0}
    if metrics.get("stopped_reason") in BAD_STOPS:
        bad = metrics.get("bad_value") or {}
        metadata.update({"stopped_reason": metrics["stopped_reason"], "bad_step": metrics.get("bad_step"),
                         "bad_value": dg.MetadataValue.json(jsonable(bad)),
                         "result_checkpoint": metrics.get("result_checkpoint") or ""})
        return dg.AssetCheckResult(passed=False, metadata=metadata,
                                   description=f"training stopped: {describe_stop(metrics)}")
    passed = finite and final < first
    description = (f"loss fell from {first:.4g} to {final:.4g}" if passed else
                   f"loss did not fall (first {first}, final {final})" if finite else
                   f"a logged loss is not finite (first {first}, final {final})")
    return dg.AssetCheckResult(passed=passed, metadata=metadata, description=description)
