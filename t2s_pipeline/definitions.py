"""The one dg.Definitions of t2s_pipeline: the chain of assets, its checks, jobs and resources.

raw_benchmarks -> golden_pairs -> trajectories -> base_model -> tokenized_splits -> lora_adapter
-> eval_report -> merged_model
"""


import dagster as dg

from t2s_pipeline.assets.base_model import base_model
from t2s_pipeline.assets.eval_report import eval_report, eval_report_no_regression, eval_report_not_worse_than_base
from t2s_pipeline.assets.golden_pairs import golden_pairs, golden_pairs_validation_rate
from t2s_pipeline.assets.lora_adapter import lora_adapter, lora_adapter_training_stable
from t2s_pipeline.assets.merged_model import merged_model
from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.assets.tokenized_splits import tokenized_splits
from t2s_pipeline.assets.trajectories import trajectories
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


def resources() -> dict:
    return {"io_manager": DirectoryIOManager(), "launcher": AccelerateLauncher()}


defs = dg.Definitions(
    assets=CHAIN,
    asset_checks=CHECKS,
    jobs=[full_chain_job, data_job],
    resources=resources(),
    # One step at a time in one process: on a CPU the multiprocess executor costs seconds per step.
    executor=dg.in_process_executor,
)
