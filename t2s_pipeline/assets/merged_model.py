"""merged_model: the adapter merged into the base weights, ready to serve without PEFT."""


import shutil
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import scratch_dir
from t2s_pipeline.training.merge import merge_adapter


class MergedModelConfig(dg.Config):
    dtype: Literal["bf16", "fp16", "fp32"] = Field(default="fp32", description="dtype of the merged weights.")
    export_dir: str = Field(default="", description="Also copy the merged model to this folder (e.g. for serving).")
    overwrite: bool = Field(default=False, description="Replace a non-empty export_dir; refused otherwise.")


@dg.asset(
    code_version="1",
    group_name="training",
    kinds={"pytorch", "huggingface", "safetensors"},
    description="The LoRA adapter merged into the base model in the chosen dtype: a plain Hugging Face folder. "
                "Materializes only when eval_report's blocking check passed.",
)
def merged_model(context: dg.AssetExecutionContext, config: MergedModelConfig, lora_adapter: Path, base_model: Path,
                 eval_report: Path) -> Path:
    if config.export_dir:  # fail before the work, not after
        export = Path(config.export_dir)
        if export.exists() and any(export.iterdir()) and not config.overwrite:
            raise FileExistsError(f"export_dir {export} already exists and is not empty; set overwrite: true to replace it")
    out = scratch_dir(context)
    stats = merge_adapter(base_model, lora_adapter / "adapter", out, dtype=config.dtype)
    if config.export_dir:
        shutil.rmtree(config.export_dir, ignore_errors=True)
        shutil.copytree(out, config.export_dir)
        stats["export_dir"] = dg.MetadataValue.path(str(Path(config.export_dir).resolve()))
    context.add_output_metadata(stats)
    return out
