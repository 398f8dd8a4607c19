"""merged_model: the best adapter that passed the gate (SFT or RL) merged into the base weights."""


import json
import shutil
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import scratch_dir
from t2s_pipeline.modeling.model_card import model_card
from t2s_pipeline.training.merge import merge_adapter


class MergedModelConfig(dg.Config):
    dtype: Literal["bf16", "fp16", "fp32"] = Field(default="fp32", description="dtype of the merged weights.")
    export_dir: str = Field(default="", description="Also copy the merged model to this folder (e.g. for serving).")
    overwrite: bool = Field(default=False, description="Replace a non-empty export_dir; refused otherwise.")


@dg.asset(
    code_version="3",
    group_name="training",
    kinds={"pytorch", "huggingface", "safetensors"},
    description="The best adapter that passed eval_report's gate (SFT's or RL's, by execution accuracy) merged "
                "into the base model in the chosen dtype: a plain Hugging Face folder. Materializes only when "
                "eval_report's blocking check passed; the metadata says which adapter it is.",
)
def merged_model(context: dg.AssetExecutionContext, config: MergedModelConfig, lora_adapter: Path, rl_adapter: Path,
                 base_model: Path, eval_report: Path) -> Path:
    if config.export_dir:  # fail before the work, not after
        export = Path(config.export_dir)
        if export.exists() and any(export.iterdir()) and not config.overwrite:
            raise FileExistsError(f"export_dir {export} already exists and is not empty; set overwrite: true to replace it")
    report = json.loads((eval_report / "report.json").read_text())
    best = report.get("best_adapter", "fine_tuned")
    if best is None:
        raise RuntimeError("eval_report found no adapter that is not worse than the base: nothing to merge")
    adapter, name = (rl_adapter, "rl_adapter") if best == "rl" else (lora_adapter, "lora_adapter")
    context.log.info(f"merging {name} (version {adapter.name}): execution accuracy "
                     f"{report[best]['execution_accuracy']:.3f}, base {report['base']['execution_accuracy']:.3f}")
    out = scratch_dir(context)
    stats = merge_adapter(base_model, adapter / "adapter", out, dtype=config.dtype)
    stats.update({"merged_adapter": name, "merged_adapter_version": adapter.name,
                  "merged_execution_accuracy": report[best]["execution_accuracy"]})
    (out / "merged_from.json").write_text(json.dumps({"adapter": name, "version": adapter.name,
                                                      "execution_accuracy": report[best]["execution_accuracy"]}) + "\n")
    (out / "README.md").write_text(merged_model_card(report, best, adapter, name, base_model, eval_report,
                                                     config.dtype))
    if config.export_dir:
        shutil.rmtree(config.export_dir, ignore_errors=True)
        shutil.copytree(out, config.export_dir)
        stats["export_dir"] = dg.MetadataValue.path(str(Path(config.export_dir).resolve()))
    context.add_output_metadata(stats)
    return out


def merged_model_card(report: dict, best: str, adapter: Path, name: str, base_model: Path, eval_report: Path,
                      dtype: str) -> str:
    """The model card: lineage from the stored versions, the preset's figures from the adapter's metrics.json."""
    metrics = adapter / "metrics.json"
    lineage = {"base_model": base_model.name, name: adapter.name, "eval_report": eval_report.name}
    return model_card(report, best, lineage, base_model, json.loads(metrics.read_text()) if metrics.is_file() else None,
                      dtype)
