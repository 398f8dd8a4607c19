"""The one dg.Definitions of t2s_pipeline: the chain of assets, its checks, jobs, schedule, sensor and resources.

raw_benchmarks -> golden_pairs -> trajectories -> base_model -> tokenized_splits -> lora_adapter
-> eval_report -> merged_model
"""

import os

import dagster as dg

from t2s_pipeline.assets.base_model import base_model
from t2s_pipeline.assets.eval_report import eval_report, eval_report_no_regression, eval_report_not_worse_than_base
from t2s_pipeline.assets.golden_pairs import golden_pairs, golden_pairs_validation_rate
from t2s_pipeline.assets.lora_adapter import lora_adapter, lora_adapter_training_stable
from t2s_pipeline.assets.merged_model import merged_model
from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.assets.tokenized_splits import tokenized_splits
from t2s_pipeline.assets.trajectories import trajectories
from t2s_pipeline.automation import build_benchmark_sensor, build_retrain_schedule
from t2s_pipeline.resources.launcher import AccelerateLauncher
from t2s_pipeline.resources.storage import DirectoryIOManager

CHAIN = [raw_benchmarks, golden_pairs, trajectories, base_model, tokenized_splits, lora_adapter, eval_report,
         merged_model]
CHECKS = [golden_pairs_validation_rate,
          lora_adapter_training_stable, eval_report_not_worse_than_base, eval_report_no_regression]

full_chain_job = dg.define_asset_job(
    "full_chain", selection=dg.AssetSelection.assets(*CHAIN),
    description="Every asset of the chain, from raw benchmarks to the merged model.")
data_job = dg.define_asset_job(
    "data", selection=dg.AssetSelection.groups("data"),
    description="The data half: raw_benchmarks, golden_pairs, trajectories.")
weekly_retrain = build_retrain_schedule(full_chain_job)
benchmark_folder_sensor = build_benchmark_sensor(data_job)


S3_SETTINGS = (("s3_endpoint_url", "AWS_ENDPOINT_URL"), ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
               ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"))


def resources() -> dict:
    """Resources chosen by $T2S_ENV. `local` (default): artifacts under $T2S_STORAGE, else ./.t2s_storage.
    `s3`: $T2S_STORAGE is an s3:// URL; the endpoint and credentials set in the AWS environment variables are
    passed as dg.EnvVar, resolved at run time, so their values never appear in config, logs or metadata
    (unset ones fall back to the standard AWS chain: profiles, instance roles)."""
    env = os.environ.get("T2S_ENV") or "local"
    if env == "local":
        io_manager = DirectoryIOManager()
    elif env == "s3":
        if not os.environ.get("T2S_STORAGE", "").startswith("s3://"):
            raise ValueError("T2S_ENV=s3 needs T2S_STORAGE=s3://bucket/prefix")
        secrets = {field: dg.EnvVar(var) for field, var in S3_SETTINGS if os.environ.get(var)}
        io_manager = DirectoryIOManager(root=dg.EnvVar("T2S_STORAGE"), **secrets)
    else:
        raise ValueError(f"T2S_ENV={env!r}: expected 'local' or 's3'")
    return {"io_manager": io_manager, "launcher": AccelerateLauncher()}


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
