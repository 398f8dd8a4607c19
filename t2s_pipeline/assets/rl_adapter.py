"""rl_adapter: GRPO with the execution reward, continuing the SFT adapter, launched like lora_adapter."""


import json
import math
import shutil
from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import scratch_dir
from t2s_pipeline.assets.training_launch import fmt, launch_training, log_rows_by_step, training_metadata
from t2s_pipeline.modeling.model_folder import is_encoder_decoder
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.storage import DirectoryIOManager
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline.training.rl_config import RLConfig, load_rl_preset
from t2s_pipeline.training.stage import BAD_STOPS, describe_stop

GRPO_MODULE = "t2s_pipeline.training.grpo"


class RlAdapterConfig(dg.Config):
    enabled: bool = Field(default=True, description="Run GRPO. Off: the SFT adapter passes through unchanged (the "
                                                    "metadata and metrics.json say so).")
    preset: str = Field(default="rl-tiny", description="RL preset in t2s_pipeline/configs/ (name) or a YAML path.")
    max_steps: Optional[int] = Field(default=None, description="Override the preset's optimizer steps.")
    learning_rate: Optional[float] = Field(default=None, description="Override the preset's learning rate.")
    beta: Optional[float] = Field(default=None, description="Override the preset's KL coefficient.")
    num_generations: Optional[int] = Field(default=None, description="Override the preset's group size.")
    seed: Optional[int] = Field(default=None, description="Override the preset's seed.")
    max_wall_hours: Optional[float] = Field(default=None, description="Override the preset's wall-time budget (hours).")
    resume: bool = Field(default=True, description="Resume a killed run of the same config from its newest "
                                                   "complete checkpoint.")
    # Sizes, so that a hub preset scales down to a smoke run (configs/run/scaled_down.yaml) with nothing else changed.
    per_device_train_batch_size: Optional[int] = Field(default=None, description="Override the preset's completions "
                                                       "per device per micro-step.")
    gradient_accumulation_steps: Optional[int] = Field(default=None, description="Override the preset's accumulation.")
    max_completion_length: Optional[int] = Field(default=None, description="Override the preset's completion length.")
    max_prompts: Optional[int] = Field(default=None, description="Override the preset's number of prompts.")
    warmup_steps: Optional[int] = Field(default=None, description="Override the preset's warmup steps.")
    save_steps: Optional[int] = Field(default=None, description="Override the preset's checkpoint interval.")

    def overrides(self) -> dict:
        """The preset fields this config sets (every field but enabled, preset and resume)."""
        return {k: v for k, v in self.model_dump().items()
                if k not in ("enabled", "preset", "resume") and v is not None}


@dg.asset(
    code_version="1",
    group_name="training",
    kinds={"pytorch", "accelerate"},
    description="The SFT adapter trained further with GRPO (TRL) and the execution reward (1 for a result matching "
                "the gold on its database and on every test-suite variant, 0.1 for SQL that runs, 0 otherwise; "
                "read-only sandbox), by an `accelerate launch` subprocess (Dagster Pipes): the adapter, "
                "completions.jsonl, the reward log and metrics. Switched off, it passes the SFT adapter through.",
)
def rl_adapter(context: dg.AssetExecutionContext, config: RlAdapterConfig, launcher: AccelerateLauncher,
               tracking: WandbTracking, io_manager: dg.ResourceParam[DirectoryIOManager],
               lora_adapter: Path, base_model: Path, trajectories: Path, raw_benchmarks: Path,
               test_suites: Path) -> dg.Output[Path]:
    out = scratch_dir(context)
    if not config.enabled:
        return pass_through(context, lora_adapter, out)
    if is_encoder_decoder(base_model):
        raise ValueError(f"rl_adapter: GRPO (TRL's GRPOTrainer) trains decoder-only models, and {base_model} is an "
                         "encoder-decoder model: set rl_adapter's config to {enabled: false}")
    cfg = load_rl_preset(config.preset)
    cfg = RLConfig.from_dict({**cfg.to_dict(), **config.overrides(), "init_from": str(lora_adapter / "adapter")})
    if problem := cfg.batch_problem(launcher.world_size()):
        raise ValueError(problem)
    # The start adapter's version folder names the run, not its path: the fingerprint must not see a scratch path.
    fingerprint = {**cfg.to_dict(), "init_from": lora_adapter.name}
    run = {"model_dir": str(base_model), "trajectories_dir": str(trajectories), "raw_dir": str(raw_benchmarks),
           "suite_dir": str(test_suites), "rl": cfg.to_dict()}
    metrics = launch_training(context, run, out, fingerprint, [base_model, trajectories, raw_benchmarks, test_suites],
                              launcher, tracking, io_manager, config.resume, module=GRPO_MODULE)
    metadata = training_metadata(metrics, out, config.preset, "GRPO training", reward_table(out / "loss_log.jsonl"))
    return dg.Output(out, metadata={"rl_enabled": True, **metadata})


def pass_through(context: dg.AssetExecutionContext, lora_adapter: Path, out: Path) -> dg.Output[Path]:
    """RL switched off: the SFT adapter, unchanged, is this asset's adapter."""
    shutil.copytree(lora_adapter / "adapter", out / "adapter")
    note = f"RL switched off: the SFT adapter of lora_adapter version {lora_adapter.name} passes through unchanged"
    (out / "metrics.json").write_text(json.dumps({"rl_enabled": False, "passed_through": lora_adapter.name}) + "\n")
    context.log.info(note)
    return dg.Output(out, metadata={"rl_enabled": False, "passed_through": lora_adapter.name, "note": note})


def reward_table(loss_log: Path) -> str:
    lines = ["| step | reward | share correct | kl | completion length |", "|---|---|---|---|---|"]
    lines += [f"| {r['step']} | {fmt(r.get('reward'))} | {fmt(r.get('execution/correct'))} | {fmt(r.get('kl'))} "
              f"| {fmt(r.get('completions/mean_length'))} |" for r in log_rows_by_step(loss_log) if "reward" in r]
    return "\n".join(lines)


@dg.asset_check(asset=rl_adapter, description="The RL run is stable: no NaN/inf loss or exploding gradient stopped "
                                                "it and every logged loss and reward is finite (reward rise reported).")
def rl_adapter_training_stable(rl_adapter: Path) -> dg.AssetCheckResult:
    metrics = json.loads((rl_adapter / "metrics.json").read_text())
    if not metrics.get("rl_enabled", True):
        return dg.AssetCheckResult(passed=True, description="RL switched off: the SFT adapter passed through",
                                   metadata={"passed_through": metrics.get("passed_through", "")})
    values = {k: metrics.get(k) for k in ("first_reward", "final_reward", "first_loss", "final_loss")}
    finite = all(v is not None and math.isfinite(v) for v in values.values())
    metadata = {k: (v if v is not None and math.isfinite(v) else str(v)) for k, v in values.items()}
    if metrics.get("stopped_reason") in BAD_STOPS:
        return dg.AssetCheckResult(passed=False, metadata=metadata,
                                   description=f"training stopped: {describe_stop(metrics)}")
    description = (f"reward {values['first_reward']:.3f} -> {values['final_reward']:.3f} over {metrics.get('steps')} "
                   "steps" if finite else f"a logged figure is not finite: {values}")
    return dg.AssetCheckResult(passed=finite, metadata=metadata, description=description)
