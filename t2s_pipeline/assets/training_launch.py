"""What both training assets (lora_adapter, rl_adapter) do around their training job, in one place: the
checkpoint folder of the run, the launch through the launcher resource, and the metadata people read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import dagster as dg

from t2s_pipeline.resources.launcher import TRAIN_MODULE, AccelerateLauncher
from t2s_pipeline.resources.storage import DirectoryIOManager, resolve_root
from t2s_pipeline.resources.tracking import WandbTracking
from t2s_pipeline.training.stage import StageCheckpoints, jsonable, run_stage


def stage_checkpoints(stage: str, fingerprint: dict, inputs: list[Path],
                      io_manager: DirectoryIOManager | None = None) -> StageCheckpoints:
    """Where runs of this training config on these inputs keep checkpoints until they finish (locally, and in
    the store with s3:// storage), so that a killed run is resumed by the next materialization."""
    return StageCheckpoints.for_run(resolve_root(""), stage, fingerprint, inputs,
                                    store_prefix=io_manager.remote_url(stage, "checkpoints") if io_manager else None,
                                    storage_options=io_manager.storage_options if io_manager else None)


def launch_training(context: dg.AssetExecutionContext, run: dict, out: Path, fingerprint: dict, inputs: list[Path],
                    launcher: AccelerateLauncher, tracking: WandbTracking, io_manager: DirectoryIOManager,
                    resume: bool, module: str = TRAIN_MODULE) -> dict:
    """Run one training stage (training/stage.py's run_stage) with this asset's checkpoints, launcher and
    credentials; returns the metrics rank 0 reported."""
    stage = context.asset_key.to_user_string()
    checkpoints = stage_checkpoints(stage, fingerprint, inputs, io_manager)
    # Credentials travel in the environment only: run.json is part of the artifact.
    env = {**io_manager.aws_env(), **tracking.training_env(f"{stage}-{context.run.run_id[:8]}")}
    metrics = run_stage({**run, "output_dir": str(out), "wandb": tracking.enabled}, out, checkpoints,
                        lambda run_config: launcher.launch(context, run_config, out, env=env, module=module),
                        launcher.world_size(), resume, log=context.log.info, warn=context.log.warning)
    if checkpoints.store:
        metrics = {**metrics, "checkpoint_store": checkpoints.store}
    return metrics


def rounded(value: float, digits: int = 4) -> float:
    """`value` to `digits` significant digits: 0.6509 rather than 0.65091234567."""
    if not value or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def training_metadata(metrics: dict, out: Path, preset: str, curve_title: str, curve_table: str) -> dict:
    """The asset's metadata: the adapter and its checkpoints as paths, the loss curve as a plot and a table,
    then every figure the run reported, rounded."""
    from t2s_pipeline.evaluation.plots import markdown_image, plot_loss_curves

    metadata: dict = {"adapter": dg.MetadataValue.path(str(out / "adapter"))}
    if (out / "checkpoints").is_dir():
        metadata["checkpoints"] = dg.MetadataValue.path(str(out / "checkpoints"))
    png = plot_loss_curves(out / "loss_log.jsonl", out / "loss_curve.png", title=curve_title)
    if png is not None:
        metadata["loss_curve_plot"] = dg.MetadataValue.md(markdown_image(png, curve_title))
    metadata["loss_curve"] = dg.MetadataValue.md(curve_table)
    metadata["preset"] = preset
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        metadata[key] = rounded(value) if isinstance(value, float) else value
    if metrics.get("bad_value"):
        metadata["bad_value"] = dg.MetadataValue.json(jsonable(metrics["bad_value"]))
    return metadata


def log_rows_by_step(loss_log: Path) -> list[dict]:
    """The loss log's records merged per step (a step's training and eval figures arrive as two records)."""
    rows: dict[int, dict] = {}
    for line in loss_log.read_text().splitlines() if loss_log.is_file() else []:
        record = json.loads(line)
        rows.setdefault(record["step"], {}).update(record)
    return [rows[step] for step in sorted(rows)]


def fmt(value) -> str:
    return "" if value is None else f"{rounded(value):.4g}" if isinstance(value, float) else str(value)
