"""eval_report: the base and the fine-tuned model scored on the same held-out questions."""


import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import log_to, scratch_dir
from t2s_pipeline.evaluation.report import evaluate


class EvalReportConfig(dg.Config):
    limit: int = Field(default=0, description="Evaluate at most this many test questions; 0 evaluates all.")
    batch_size: int = Field(default=16, description="Prompts per generation batch.")
    max_new_tokens: int = Field(default=128, description="Generation length limit per answer.")
    timeout_s: float = Field(default=5.0, description="Wall-clock limit per predicted query (read-only sandbox).")


@dg.asset(
    group_name="evaluation",
    kinds={"sqlite", "markdown"},
    description="Execution accuracy, exact match, loss and perplexity of the base and the fine-tuned model on the "
                "test split, by benchmark and difficulty: report.json, report.md, predictions.jsonl.",
)
def eval_report(context: dg.AssetExecutionContext, config: EvalReportConfig, lora_adapter: Path, base_model: Path,
                trajectories: Path, raw_benchmarks: Path) -> Path:
    out = scratch_dir(context)
    report = evaluate(base_model, lora_adapter / "adapter", trajectories, raw_benchmarks, out,
                      limit=config.limit or None, batch_size=config.batch_size,
                      max_new_tokens=config.max_new_tokens, timeout_s=config.timeout_s, log=log_to(context))
    base, tuned = report["base"], report["fine_tuned"]
    context.add_output_metadata({
        "questions": report["questions"],
        "base_execution_accuracy": base["execution_accuracy"],
        "fine_tuned_execution_accuracy": tuned["execution_accuracy"],
        "fine_tuned_execution_accuracy_unseen_sql": tuned["execution_accuracy_unseen_sql"] or 0.0,
        "base_exact_match": base["exact_match"],
        "fine_tuned_exact_match": tuned["exact_match"],
        "base_loss": base["loss"],
        "fine_tuned_loss": tuned["loss"],
        "fine_tuned_perplexity": tuned["perplexity"],
        "report": dg.MetadataValue.md((out / "report.md").read_text()),
    })
    return out


@dg.asset_check(asset=eval_report, blocking=True,
                description="The fine-tuned model is not worse than the base model (execution accuracy). Gates merged_model.")
def eval_report_not_worse_than_base(eval_report: Path) -> dg.AssetCheckResult:
    report = json.loads((eval_report / "report.json").read_text())
    base, tuned = report["base"]["execution_accuracy"], report["fine_tuned"]["execution_accuracy"]
    return dg.AssetCheckResult(passed=tuned >= base,
                               metadata={"base_execution_accuracy": base, "fine_tuned_execution_accuracy": tuned})
