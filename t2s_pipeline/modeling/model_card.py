"""The model card (README.md) merged_model writes into the merged model's folder: the base model, the data and
lineage, the training preset, the execution-accuracy table with its decoding, and how to serve and ask it."""

from __future__ import annotations

import json
from pathlib import Path

from t2s_pipeline.modeling.decoding import CONSTRAINT_WORDS, report_constraint

LABELS = {"base": "base", "fine_tuned": "SFT", "rl": "RL"}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def model_card(report: dict, merged: str, lineage: dict[str, str], base_model_dir: str | Path,
               training: dict | None = None, dtype: str = "fp32") -> str:
    """The card's markdown. report: eval_report's report.json; merged: the model merged (`fine_tuned` or `rl`);
    lineage: asset name -> stored version; training: the merged adapter's metrics.json (the preset's figures)."""
    config_path = Path(base_model_dir) / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    arch = ", ".join(config.get("architectures") or []) or config.get("model_type", "unknown")
    size = config.get("hidden_size") or config.get("d_model")
    lines = [
        "---", "library_name: transformers", "pipeline_tag: text-generation", "tags: [text-to-sql, t2s_pipeline]", "---",
        "", f"# Text-to-SQL: {LABELS.get(merged, merged)} adapter merged into {arch}", "",
        f"Written by t2s_pipeline's `merged_model` asset: the {LABELS.get(merged, merged)} adapter (the best adapter "
        f"not worse than the base in execution accuracy) merged into the base weights, in {dtype}.", "",
        "## Base model", "",
        f"- architecture: {arch} ({config.get('model_type', '?')}, hidden size {size}, "
        f"{config.get('num_hidden_layers') or config.get('num_layers', '?')} layers)",
        f"- base_model version: {lineage.get('base_model', '?')}", "",
        "## Data and lineage", "",
        "| asset | version |", "|---|---|", *[f"| {k} | {v} |" for k, v in lineage.items()], "",
        f"Scored on {report.get('questions')} held-out test questions ({report.get('scored_kind')} samples), "
        f"protocol {report.get('protocol')}"
        + (f", on each question's database and its test suite ({report['suite']['databases_per_question']} "
           "databases a question)" if report.get("suite") else ", on the original database") + ".", "",
    ]
    if training:
        keys = ("finetuning", "steps", "effective_batch_size", "train_samples", "precision", "quantization",
                "trainable_parameters", "final_loss", "dev_loss", "train_seconds")
        lines += ["## Training", "", "| setting | value |", "|---|---|",
                  *[f"| {k} | {_fmt(training.get(k))} |" for k in keys if training.get(k) is not None], ""]
    names = [n for n in ("base", "fine_tuned", "rl") if n in report]
    agent = report.get("agent") or {}
    head = ["model", "EX", "EX original db", "EX unseen SQL", "exact match"] + (["agent EX"] if agent else [])
    lines += ["## Execution accuracy", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        s = report[n]
        row = [LABELS[n] + (" (merged)" if n == merged else ""), _fmt(s.get("execution_accuracy")),
               _fmt(s.get("execution_accuracy_original_db")), _fmt(s.get("execution_accuracy_unseen_sql")),
               _fmt(s.get("exact_match"))] + ([_fmt((agent.get(n) or {}).get("execution_accuracy"))] if agent else [])
        lines.append("| " + " | ".join(row) + " |")
    settings = report.get("settings", {})
    constraint = report_constraint(settings)
    decoding = (f"{settings.get('num_beams', 1)} beam(s)" if settings.get("num_beams", 1) > 1 else "greedy") + (
        f", self-consistency over {settings['n_samples']} queries" if settings.get("n_samples", 1) > 1 else "") + (
        f", constrained to {CONSTRAINT_WORDS[constraint]}" if constraint in CONSTRAINT_WORDS else "") + (
        ", one pipe operator at a time" if settings.get("incremental") else "") + (
        f", at most {settings.get('max_new_tokens')} new tokens")
    lines += ["", f"Decoding: {decoding}."]
    if agent:
        a = agent["settings"]
        lines.append(f"Agent: the tool conversations (list_tables, describe_table, sample_rows, execute_sql), at most "
                     f"{a['max_turns']} turns a question, greedy.")
    lines += [
        "", "## Serve and ask", "", "```bash",
        "# the prompt is the one it was trained on: the database schema, then the question",
        "t2s ask --model THIS_FOLDER --db your.sqlite \"How many singers are there?\"",
        "# as an agent that calls the database tools (read-only sandbox)",
        "t2s ask --agent --model THIS_FOLDER --db your.sqlite \"How many singers are there?\"",
        "# over the OpenAI API: transformers serve on 127.0.0.1:8000 (docs/agent.md; vLLM on a GPU)",
        "t2s serve --model THIS_FOLDER",
        "```", "",
        "In Python: `AutoModelForCausalLM.from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder)`; "
        "apply the tokenizer's chat template to the system prompt and the user turn (schema, then question).", "",
    ]
    return "\n".join(lines)
