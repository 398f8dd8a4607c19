"""lora_adapter: LoRA training launched as an `accelerate launch` subprocess through Dagster Pipes."""


import json
import math
from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import scratch_dir
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.training.config import load_preset


class LoraAdapterConfig(dg.Config):
    preset: str = Field(default="tiny", description="Training preset in t2s_pipeline/configs/ (name) or a YAML path.")
    max_steps: Optional[int] = Field(default=None, description="Override the preset's optimizer steps.")
    learning_rate: Optional[float] = Field(default=None, description="Override the preset's peak learning rate.")
    seed: Optional[int] = Field(default=None, description="Override the preset's seed.")

    def overrides(self) -> dict:
        return {k: v for k, v in (("max_steps", self.max_steps), ("learning_rate", self.learning_rate),
                                  ("seed", self.seed)) if v is not None}


@dg.asset(
    group_name="training",
    kinds={"pytorch", "accelerate"},
    description="A LoRA adapter trained on tokenized_splits by an `accelerate launch` subprocess (Dagster Pipes): "
                "the final adapter, trainer_state.json, the loss log and metrics.",
)
def lora_adapter(context: dg.AssetExecutionContext, config: LoraAdapterConfig, launcher: AccelerateLauncher,
                 tokenized_splits: Path, base_model: Path) -> dg.Output[Path]:
    cfg = load_preset(config.preset)
    cfg = type(cfg).from_dict({**cfg.to_dict(), **config.overrides()})
    out = scratch_dir(context)
    run = {"model_dir": str(base_model), "data_dir": str(tokenized_splits), "output_dir": str(out),
           "training": cfg.to_dict()}
    metrics = launcher.launch(context, run, out)
    if not (out / "adapter" / "adapter_config.json").is_file():
        raise RuntimeError(f"training finished without writing an adapter to {out / 'adapter'}")
    # A Pipes session requires typed results: the directory goes out as an explicit Output.
    return dg.Output(out, metadata={
        **{k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
        "preset": config.preset,
        "loss_curve": dg.MetadataValue.md(_loss_table(out / "loss_log.jsonl")),
    })


def _loss_table(loss_log: Path) -> str:
    rows = [json.loads(line) for line in loss_log.read_text().splitlines()] if loss_log.is_file() else []
    lines = ["| step | loss | eval_loss |", "|---|---|---|"]
    lines += [f"| {r['step']} | {r.get('loss', '')} | {r.get('eval_loss', '')} |" for r in rows
              if "loss" in r or "eval_loss" in r]
    return "\n".join(lines)


@dg.asset_check(asset=lora_adapter, description="The training run is stable: every logged loss is finite and the loss fell.")
def lora_adapter_training_stable(lora_adapter: Path) -> dg.AssetCheckResult:
    metrics = json.loads((lora_adapter / "metrics.json").read_text())
    first, final = metrics.get("first_loss"), metrics.get("final_loss")
    finite = all(v is not None and math.isfinite(v) for v in (first, final))
    passed = finite and final < first
    return dg.AssetCheckResult(passed=passed, metadata={"first_loss": first or 0.0, "final_loss": final or 0.0})
