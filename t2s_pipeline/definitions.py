"""The one dg.Definitions of t2s_pipeline: the chain of assets, its checks, jobs, schedule, sensor and resources.

raw_benchmarks -> golden_pairs -> trajectories -> base_model -> tokenized_splits -> lora_adapter
-> rl_adapter -> eval_report -> merged_model; raw_benchmarks, golden_pairs -> test_suites -> eval_report
"""

import os

import dagster as dg

from t2s_pipeline.assets.base_model import base_model
from t2s_pipeline.assets.eval_report import eval_report, eval_report_no_regression, eval_report_not_worse_than_base
from t2s_pipeline.assets.golden_pairs import golden_pairs, golden_pairs_validation_rate
from t2s_pipeline.assets.lora_adapter import lora_adapter, lora_adapter_training_stable
from t2s_pipeline.assets.merged_model import merged_model
from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.assets.rl_adapter import rl_adapter, rl_adapter_training_stable
from t2s_pipeline.assets.test_suites import test_suites
from t2s_pipeline.assets.tokenized_splits import tokenized_splits
from t2s_pipeline.assets.trajectories import trajectories
from t2s_pipeline.automation import build_benchmark_sensor, build_retrain_schedule
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.storage import DirectoryIOManager
from t2s_pipeline.resources.tracking import WandbTracking

CHAIN = [raw_benchmarks, golden_pairs, test_suites, trajectories, base_model, tokenized_splits, lora_adapter,
         rl_adapter, eval_report, merged_model]
CHECKS = [golden_pairs_validation_rate, lora_adapter_training_stable, rl_adapter_training_stable,
          eval_report_not_worse_than_base, eval_report_no_regression]

full_chain_job = dg.define_asset_job(
    "full_chain", selection=dg.AssetSelection.assets(*CHAIN),
    description="Every asset of the chain, from raw benchmarks to the merged model.")
data_job = dg.define_asset_job(
    "data", selection=dg.AssetSelection.groups("data"),
    description="The data half: raw_benchmarks, golden_pairs, test_suites, trajectories.")
weekly_retrain = build_retrain_schedule(full_chain_job)
benchmark_folder_sensor = build_benchmark_sensor(data_job)


# S3Resource field -> the AWS variable it is read from (the first one set wins for the region).
S3_SETTINGS = (("endpoint_url", "AWS_ENDPOINT_URL"), ("region_name", "AWS_REGION"),
               ("region_name", "AWS_DEFAULT_REGION"), ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
               ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"), ("aws_session_token", "AWS_SESSION_TOKEN"))


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def tracking_resources() -> dict:
    """W&B tracking, off unless $T2S_WANDB=1; offline unless $WANDB_MODE=online. The API key, when set, is
    passed as dg.EnvVar. Online with a key, dagster-wandb's `wandb_resource` is offered too, for assets
    that use the W&B API (it logs in when an asset asks for it)."""
    online = os.environ.get("WANDB_MODE") == "online"
    key = dg.EnvVar("WANDB_API_KEY") if os.environ.get("WANDB_API_KEY") else ""
    resources = {"tracking": WandbTracking(enabled=_on("T2S_WANDB"), mode="online" if online else "offline",
                                           api_key=key)}
    if online and key:
        from dagster_wandb import wandb_resource  # imports wandb (seconds): only when it can be used

        resources["wandb_resource"] = wandb_resource.configured({"api_key": {"env": "WANDB_API_KEY"}})
    return resources


def resources() -> dict:
    """Resources chosen by $T2S_ENV. `local` (default): artifacts under $T2S_STORAGE, else ./.t2s_storage.
    `s3`: $T2S_STORAGE is an s3:// URL; the endpoint, region and credentials set in the AWS environment
    variables configure a dagster-aws S3Resource (also offered as the `s3` resource) as dg.EnvVar, resolved at
    run time, so their values never appear in config, logs or metadata (unset ones fall back to the standard
    AWS chain: profiles, instance roles)."""
    env = os.environ.get("T2S_ENV") or "local"
    extra = {}
    if env == "local":
        io_manager = DirectoryIOManager()
    elif env == "s3":
        if not os.environ.get("T2S_STORAGE", "").startswith("s3://"):
            raise ValueError("T2S_ENV=s3 needs T2S_STORAGE=s3://bucket/prefix")
        from dagster_aws.s3 import S3Resource  # about 0.8 s to import: only for S3

        from t2s_pipeline.resources.s3_io_manager import S3DirectoryIOManager

        settings = {}
        for field, var in S3_SETTINGS:
            if os.environ.get(var):
                settings.setdefault(field, dg.EnvVar(var))
        extra["s3"] = S3Resource(**settings)
        io_manager = S3DirectoryIOManager(root=dg.EnvVar("T2S_STORAGE"), s3=extra["s3"])
    else:
        raise ValueError(f"T2S_ENV={env!r}: expected 'local' or 's3'")
    return {"io_manager": io_manager, "launcher": AccelerateLauncher(), **tracking_resources(), **extra}


defs = dg.Definitions(
    assets=CHAIN,
    asset_checks=CHECKS,
    jobs=[full_chain_job, data_job],
    schedules=[weekly_retrain],
    sensors=[benchmark_folder_sensor],
    resources=resources(),
    # One step at a time in one process: on a CPU the multiprocess executor costs seconds per step.
    executor=dg.in_process_executor,
)
