"""eval_report: the base, the SFT (fine-tuned) and the RL model scored on the same held-out questions."""


import json
from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field, field_validator

from t2s_pipeline.assets.common import log_to, rl_was_run, scratch_dir
from t2s_pipeline.evaluation.report import evaluate
from t2s_pipeline.modeling.constraint import check_constraint
from t2s_pipeline.resources.storage import DirectoryIOManager, list_versions, version_path

REGRESSION_TOLERANCE = 0.0  # a drop in fine-tuned execution accuracy larger than this warns


class AgentEvalConfig(dg.Config):
    enabled: bool = Field(default=False, description="Also score every model as an agent that calls the database "
                          "tools (list_tables, describe_table, sample_rows, execute_sql) until it answers, beside "
                          "its single-turn figure: report.json `agent`, conversations.jsonl (decoder-only models).")
    mode: str = Field(default="tools", description="tools: the tool conversations the `tool_call` and `repair` "
                      "samples teach; incremental: one pipe operator a turn from the pipe step prompt, each query so "
                      "far run in the sandbox (pipe-trained models).")
    show_rows: bool = Field(default=False, description="incremental: show what the query so far returned in the "
                            "next prompt (the step samples never did).")
    max_turns: int = Field(default=8, ge=1, description="Assistant turns per question before no_prediction.")
    wall_s: float = Field(default=120.0, gt=0, description="Seconds per question before timeout.")
    tool_timeout_s: float = Field(default=2.0, gt=0, description="Seconds each execute_sql may run.")
    max_new_tokens: int = Field(default=256, ge=1, description="Generation length limit per turn.")


class EvalReportConfig(dg.Config):
    limit: int = Field(default=0, description="Evaluate at most this many test questions; 0 evaluates all.")
    batch_size: int = Field(default=16, description="Prompts per generation batch.")
    max_new_tokens: int = Field(default=128, description="Generation length limit per answer.")
    timeout_s: float = Field(default=5.0, description="Wall-clock limit per predicted query (read-only sandbox).")
    protocol: str = Field(default="spider", description="Execution accuracy protocol: 'spider' (test-suite: multiset "
                          "of rows, any column order) or 'bird' (set of rows).")
    num_beams: int = Field(default=0, ge=0, description="Beam search width; 1 decodes greedily; 0 picks by model "
                           "family: 5 for encoder-decoder models (T5), 1 for decoder-only ones.")
    incremental: bool = Field(default=False, description="Pipe-trained models: ask for one pipe operator at a time.")
    workers: Optional[int] = Field(default=None, description="Processes that execute SQL; empty uses every core "
                                   "when the work is big enough to pay for a pool.")
    n_samples: int = Field(default=1, ge=1, description="Self-consistency: queries per question (the greedy one, then "
                           "n_samples - 1 sampled), the answer voted by execution result; 1 decodes greedily only.")
    temperature: float = Field(default=1.0, gt=0.0, description="Sampling temperature of the self-consistency and "
                               "sampled-EX queries.")
    sampled_ex: int = Field(default=0, ge=0, description="Also draw this many queries per question at `temperature` "
                            "and report the share correct (sampled EX: pass@1 estimated from k samples, what RL "
                            "raises in expectation; greedy EX moves by near-tied choices). 0 skips it; at 8 it costs "
                            "about 3x greedy decoding per model (43 s against 13-16 s on the demo's 182 questions; "
                            "decoder-only models).")
    agent: AgentEvalConfig = Field(default=AgentEvalConfig(), description="The agent evaluation (off by default).")
    constraint: str = Field(  # Dagster config takes no Literal: checked by modeling/constraint.py
        default="default", description="The constraint every model decodes under (decoder-only, and encoder-decoder "
        "with its beams): grammar (the SQLite SELECT grammar of the question's database through llguidance, a "
        "column the question states values of compared only with them: modeling/sql_grammar.py, "
        "docs/grammar-decoding.md), rules (the hand rules: string and number literals are spans the question "
        "states, other words SQL keywords, aliases, or names of its database: modeling/constrained.py), "
        "grammar+rules (both), none, or default / empty: the base model folder's default (modeling/decoding.py: "
        "rules for the tiny models built here; none for hub models, which decode as their published EX figures "
        "do). report.json names the decoding.")

    @field_validator("constraint")
    @classmethod
    def _constraint(cls, value):
        return check_constraint(value, allow_default=True)


@dg.asset(
    code_version="7",
    group_name="evaluation",
    kinds={"sqlite", "markdown"},
    description="Execution accuracy (on the original database and on its test suite), exact match, record F1, "
                "loss and perplexity of the base, the SFT (fine-tuned) and the RL model on the test split, by "
                "benchmark, difficulty and database, and which adapter is best: report.json, report.md, "
                "predictions.jsonl and PNG plots (loss curves, accuracy by difficulty).",
)
def eval_report(context: dg.AssetExecutionContext, config: EvalReportConfig, lora_adapter: Path, rl_adapter: Path,
                base_model: Path, trajectories: Path, raw_benchmarks: Path, test_suites: Path) -> Path:
    out = scratch_dir(context)
    rl = rl_adapter / "adapter" if rl_was_run(rl_adapter) else None
    if rl is None:
        context.log.info("rl_adapter passed the SFT adapter through: the report compares base and SFT only")
    report = evaluate(base_model, lora_adapter / "adapter", trajectories, raw_benchmarks, out, suite_dir=test_suites,
                      rl_adapter_dir=rl, n_samples=config.n_samples, temperature=config.temperature,
                      sampled_ex=config.sampled_ex,
                      constraint=config.constraint,
                      limit=config.limit or None, batch_size=config.batch_size,
                      max_new_tokens=config.max_new_tokens, timeout_s=config.timeout_s, log=log_to(context),
                      protocol=config.protocol, num_beams=config.num_beams, incremental=config.incremental,
                      workers=config.workers, loss_log=lora_adapter / "loss_log.jsonl",
                      agent=agent_settings(config.agent, config.batch_size))
    context.add_output_metadata(report_metadata(report, out))
    return out


def agent_settings(config: AgentEvalConfig, batch_size: int):
    """The agent evaluation's settings when it is enabled, else None."""
    if not config.enabled:
        return None
    from t2s_pipeline.evaluation.agent_eval import AgentSettings

    return AgentSettings(config.mode, config.max_turns, config.wall_s, config.tool_timeout_s, config.max_new_tokens,
                         batch_size, config.show_rows)


def accuracy_table(report: dict) -> str:
    """Model x figure, the first thing the UI shows: execution accuracy on the test suite and on the original
    database, on questions whose SQL is unseen in training, exact match."""
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    lines = ["| model | EX (test suite) | EX (original db) | EX unseen SQL | EM |", "|---|---|---|---|---|"]
    for name, label in (("base", "base"), ("fine_tuned", "SFT"), ("rl", "RL")):
        if name in report:
            s = report[name]
            lines.append(f"| {label} | {fmt(s['execution_accuracy'])} | {fmt(s.get('execution_accuracy_original_db'))} "
                         f"| {fmt(s.get('execution_accuracy_unseen_sql'))} | {fmt(s.get('exact_match'))} |")
    return "\n".join(lines)


def report_metadata(report: dict, out: Path) -> dict:
    """The accuracy table first, then the report (markdown, plots inlined) and the figures one by one."""
    from t2s_pipeline.evaluation.plots import markdown_image

    markdown = (out / "report.md").read_text()
    for name, file in report.get("plots", {}).items():  # the UI cannot read files beside the report: inline them
        markdown = markdown.replace(f"![{name.replace('_', ' ')}]({file})", markdown_image(out / file, name))
    base, tuned = report["base"], report["fine_tuned"]
    metadata = {
        "accuracy": dg.MetadataValue.md(accuracy_table(report)),
        "best_adapter": report.get("best_adapter") or "none",
        "questions": report["questions"],
        "report": dg.MetadataValue.md(markdown),
        "protocol": report.get("protocol", "spider"),
        "decoding": report.get("settings", {}).get("decoding", ""),
        "base_execution_accuracy": base["execution_accuracy"],
        "fine_tuned_execution_accuracy": tuned["execution_accuracy"],
        "base_execution_accuracy_original_db": base.get("execution_accuracy_original_db"),
        "fine_tuned_execution_accuracy_original_db": tuned.get("execution_accuracy_original_db"),
        "fine_tuned_caught_by_suite": tuned.get("caught_by_suite"),
        "fine_tuned_execution_accuracy_unseen_sql": tuned["execution_accuracy_unseen_sql"] or 0.0,
        "ex_gain": report["ex_gain"],
        "base_exact_match": base["exact_match"],
        "fine_tuned_exact_match": tuned["exact_match"],
        "fine_tuned_record_f1": tuned["record_f1"],
        "base_loss": base["loss"],
        "fine_tuned_loss": tuned["loss"],
        "fine_tuned_perplexity": tuned["perplexity"],
    }
    if "rl" in report:
        rl = report["rl"]
        metadata.update({"rl_execution_accuracy": rl["execution_accuracy"],
                         "rl_execution_accuracy_unseen_sql": rl["execution_accuracy_unseen_sql"] or 0.0,
                         "rl_ex_gain": report["rl_ex_gain"], "rl_exact_match": rl["exact_match"]})
    for name in ("base", "fine_tuned", "rl"):
        if "sampled_execution_accuracy" in report.get(name, {}):
            metadata[f"{name}_sampled_execution_accuracy"] = report[name]["sampled_execution_accuracy"]
    for key, c in (report.get("comparisons") or {}).items():
        metadata.update({f"{key}_fixed": c["fixed"], f"{key}_broken": c["broken"], f"{key}_p_value": c["p_value"]})
    for name, agent in ((k, v) for k, v in report.get("agent", {}).items() if k != "settings"):
        metadata.update({f"{name}_agent_execution_accuracy": agent["execution_accuracy"],
                         f"{name}_agent_turns_per_question": agent["turns_per_question"],
                         f"{name}_agent_repairs": agent["repairs"]})
    return {k: v for k, v in metadata.items() if v is not None}


@dg.asset_check(asset=eval_report, blocking=True,
                description="An adapter (SFT or RL) is not worse than the base model (execution accuracy); the best "
                            "such adapter is the one merged. Gates merged_model.")
def eval_report_not_worse_than_base(eval_report: Path) -> dg.AssetCheckResult:
    report = json.loads((eval_report / "report.json").read_text())
    base, tuned = report["base"]["execution_accuracy"], report["fine_tuned"]["execution_accuracy"]
    metadata = {"base_execution_accuracy": base, "fine_tuned_execution_accuracy": tuned}
    if "rl" in report:
        metadata["rl_execution_accuracy"] = report["rl"]["execution_accuracy"]
    best = report.get("best_adapter", "fine_tuned" if tuned >= base else None)
    metadata["best_adapter"] = best or "none"
    return dg.AssetCheckResult(passed=best is not None, metadata=metadata)


def previous_version(current: Path) -> Path | None:
    """The newest stored version of an asset other than `current` (a `<asset>/versions/<id>` folder), or None.

    Versions are ordered as the storage orders them: by the timestamp that starts their id, then by mtime.
    """
    versions = current.parent
    if versions.name != "versions" or not versions.is_dir():
        return None
    others = [p for p in versions.iterdir() if p.is_dir() and p.name != current.name]
    if not others:
        return None
    return max(others, key=lambda p: (p.name[:15], p.stat().st_mtime_ns))


def merged_figure(report: dict) -> tuple[str, float]:
    """(model, execution accuracy) of the adapter merged_model merges: the report's best adapter (SFT or RL),
    else the SFT adapter."""
    name = report.get("best_adapter") or "fine_tuned"
    name = name if name in report else "fine_tuned"
    return name, report[name]["execution_accuracy"]


def compare_reports(current: dict, previous: dict | None, tolerance: float = REGRESSION_TOLERANCE) -> tuple[bool, dict]:
    """(passed, metadata): the merged adapter's execution accuracy did not fall by more than `tolerance` below
    the previous report's merged adapter."""
    model, now = merged_figure(current)
    if previous is None:
        return True, {"merged_adapter": model, "execution_accuracy": now, "previous": "none: first report"}
    previous_model, before = merged_figure(previous)
    metadata = {
        "merged_adapter": model,
        "execution_accuracy": now,
        "previous_merged_adapter": previous_model,
        "previous_execution_accuracy": before,
        "change": round(now - before, 4),
        "questions": current["questions"],
        "previous_questions": previous["questions"],
        "tolerance": tolerance,
    }
    return now >= before - tolerance, metadata


def previous_stored_version(io_manager: DirectoryIOManager, key: list[str], current: Path) -> Path | None:
    """The version stored just before `current` (named by its version id), fetched through the storage layer,
    so it is found on S3 too, where `current` is a download outside any versions folder; None if there is
    none among the versions the storage keeps."""
    manifests = list_versions(io_manager.root, key, io_manager.storage_options)
    ids = [m["version"] for m in manifests]  # newest first
    older = ids[ids.index(current.name) + 1:] if current.name in ids else ids
    return version_path(io_manager.root, key, older[0], io_manager.storage_options) if older else None


@dg.asset_check(asset=eval_report, blocking=False,
                description="The adapter that is merged (the report's best: SFT or RL) is not worse than the one "
                            "merged after the previously materialized report (execution accuracy); warns on a "
                            "regression, does not block the merge.")
def eval_report_no_regression(eval_report: Path, io_manager: dg.ResourceParam[DirectoryIOManager]
                              ) -> dg.AssetCheckResult:
    current = json.loads((eval_report / "report.json").read_text())
    if isinstance(io_manager, DirectoryIOManager):
        previous_dir = previous_stored_version(io_manager, ["eval_report"], eval_report)
    else:  # another IO manager: a sibling folder, if it stores versions side by side
        previous_dir = previous_version(eval_report)
    previous_file = previous_dir / "report.json" if previous_dir else None
    previous = json.loads(previous_file.read_text()) if previous_file and previous_file.is_file() else None
    passed, metadata = compare_reports(current, previous)
    if previous_dir is not None:
        metadata["previous_version"] = previous_dir.name
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)
