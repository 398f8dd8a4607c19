"""tokenized_splits: Arrow splits with prompt masking."""


from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import log_to, scratch_dir
from t2s_pipeline.training.tokenize import tokenize_splits


class TokenizedSplitsConfig(dg.Config):
    max_length: int = Field(default=1024, description="Samples longer than this many tokens are dropped and counted.")


@dg.asset(
    code_version="2",
    group_name="training",
    kinds={"arrow", "huggingface"},
    description="train/dev/test tokenized with the base model's chat template; labels are -100 outside "
                "assistant turns (the end-of-turn token is learned); over-length samples dropped and counted.",
)
def tokenized_splits(context: dg.AssetExecutionContext, config: TokenizedSplitsConfig, trajectories: Path,
                     base_model: Path) -> Path:
    out = scratch_dir(context)
    stats = tokenize_splits(trajectories, base_model, out, max_length=config.max_length, log=log_to(context))
    metadata = {"max_length": config.max_length, "seconds": stats["seconds"]}
    for split, s in stats["splits"].items():
        metadata[f"{split}_samples"] = s["samples"]
        metadata[f"{split}_dropped_over_length"] = s["dropped_over_length"]
        metadata[f"{split}_tokens"] = s["tokens"]
    metadata["train_mean_tokens"] = stats["splits"]["train"]["mean_tokens"]
    context.add_output_metadata(metadata)
    return out
