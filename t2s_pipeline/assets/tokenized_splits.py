"""tokenized_splits: Arrow splits with prompt masking."""


from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import computed, input_hash, log_to, reuse_stored, scratch_dir
from t2s_pipeline.resources.storage import DirectoryIOManager
from t2s_pipeline.modeling.tokenize import tokenize_splits


class TokenizedSplitsConfig(dg.Config):
    max_length: int = Field(default=1024, description="Samples longer than this many tokens are dropped and counted.")
    workers: int = Field(default=0, ge=0, description="Processes for a large split (over 4,096 samples); 0 uses "
                         "every core. Smaller splits are tokenized in the run's own process.")
    force: bool = Field(default=False, description="Recompute even when a stored version was made from the same "
                        "trajectories, base model, config and code (it is reused otherwise).")


@dg.asset(
    code_version="2",
    group_name="training",
    kinds={"arrow", "huggingface"},
    description="train/dev/test tokenized with the base model's chat template; labels are -100 outside "
                "assistant turns (the end-of-turn token is learned); over-length samples dropped and counted.",
)
def tokenized_splits(context: dg.AssetExecutionContext, config: TokenizedSplitsConfig, trajectories: Path,
                     base_model: Path, io_manager: dg.ResourceParam[DirectoryIOManager]) -> dg.Output:
    digest = input_hash(context, io_manager, config, upstream=["trajectories", "base_model"])
    if reused := reuse_stored(context, io_manager, digest, config.force):
        return reused
    out = scratch_dir(context)
    stats = tokenize_splits(trajectories, base_model, out, max_length=config.max_length, log=log_to(context),
                            workers=config.workers or None)
    metadata = {"max_length": config.max_length, "seconds": stats["seconds"]}
    for split, s in stats["splits"].items():
        metadata[f"{split}_samples"] = s["samples"]
        metadata[f"{split}_dropped_over_length"] = s["dropped_over_length"]
        metadata[f"{split}_tokens"] = s["tokens"]
    metadata["train_mean_tokens"] = stats["splits"]["train"]["mean_tokens"]
    context.add_output_metadata(metadata)
    return computed(out, digest)
