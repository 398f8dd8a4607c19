"""Evaluate the base and the fine-tuned model on the same held-out questions and write a report.

Writes report.json, report.md and predictions.jsonl. Each gold result is computed once and shared.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from t2s_pipeline.evaluation.generate import generate_sql, load_model, masked_loss
from t2s_pipeline.evaluation.metrics import breakdown, judge, normalize_sql, rate
from t2s_pipeline.records import read_jsonl, write_json, write_jsonl
from t2s_pipeline.sql.execute import execute_sql


def _prompt(sample: dict) -> list[dict]:
    return [m for m in sample["messages"] if m["role"] != "assistant"]


def score_model(name, model, tokenizer, samples, gold_results, db_paths, batch_size, max_new_tokens, timeout_s, log=print):
    start = time.monotonic()
    predicted = generate_sql(model, tokenizer, [_prompt(s) for s in samples], batch_size, max_new_tokens)
    rows = []
    for sample, sql in zip(samples, predicted):
        meta = sample["meta"]
        gold = gold_results[meta["id"]]
        verdict = judge(db_paths[meta["db_id"]], meta["gold_sql"], sql, timeout_s, gold_rows=gold)
        rows.append({
            "model": name, "id": meta["id"], "db_id": meta["db_id"], "benchmark": meta.get("benchmark"),
            "difficulty": meta.get("difficulty"), "question": sample["messages"][-2]["content"].rsplit("Question: ", 1)[-1],
            "gold_sql": meta["gold_sql"], "pred_sql": sql, "ex": verdict["correct"], "reason": verdict["reason"],
            "em": normalize_sql(sql) == normalize_sql(meta["gold_sql"]), "sql_seen_in_train": meta.get("sql_seen_in_train"),
        })
    loss = masked_loss(model, tokenizer, samples, batch_size)
    unseen = [r["ex"] for r in rows if r["sql_seen_in_train"] is False]
    summary = {
        "n": len(rows),
        "execution_accuracy": rate([r["ex"] for r in rows]),
        "execution_accuracy_unseen_sql": rate(unseen) if unseen else None,
        "unseen_sql_questions": len(unseen),
        "exact_match": rate([r["em"] for r in rows]),
        "loss": round(loss, 4) if loss is not None else None,
        "perplexity": round(math.exp(loss), 3) if loss is not None and loss < 50 else None,
        "verdicts": {reason: sum(r["reason"] == reason for r in rows) for reason in sorted({r["reason"] for r in rows})},
        "by_benchmark": breakdown(rows, "benchmark"),
        "by_difficulty": breakdown(rows, "difficulty"),
        "by_database": breakdown(rows, "db_id"),
        "seconds": round(time.monotonic() - start, 1),
    }
    log(f"{name}: EX {summary['execution_accuracy']:.3f}, EM {summary['exact_match']:.3f}, loss {summary['loss']} on {len(rows)} questions")
    return summary, rows


def evaluate(
    base_model_dir, adapter_dir, trajectories_dir, raw_dir, out_dir,
    limit: int | None = None, batch_size: int = 16, max_new_tokens: int = 128, timeout_s: float = 5.0, log=print,
) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_sql = {normalize_sql(s["meta"]["gold_sql"]) for s in read_jsonl(Path(trajectories_dir) / "train.jsonl")}
    samples = [s for s in read_jsonl(Path(trajectories_dir) / "test.jsonl") if s["meta"]["kind"] == "whole_query"]
    samples = samples[:limit] if limit else samples
    if not samples:
        raise ValueError(f"no whole-query test samples in {trajectories_dir}/test.jsonl")
    for s in samples:
        s["meta"]["sql_seen_in_train"] = normalize_sql(s["meta"]["gold_sql"]) in train_sql
    db_paths = {s["meta"]["db_id"]: Path(raw_dir) / "databases" / f"{s['meta']['db_id']}.sqlite" for s in samples}
    gold_results = {}
    for s in samples:
        gold = execute_sql(db_paths[s["meta"]["db_id"]], s["meta"]["gold_sql"], timeout_s=timeout_s * 6)
        gold_results[s["meta"]["id"]] = gold.rows if gold.ok else []

    report, predictions = {"questions": len(samples)}, []
    for name, adapter in (("base", None), ("fine_tuned", adapter_dir)):
        model, tokenizer = load_model(base_model_dir, adapter)
        summary, rows = score_model(name, model, tokenizer, samples, gold_results, db_paths,
                                    batch_size, max_new_tokens, timeout_s, log)
        report[name] = summary
        predictions.extend(rows)
        del model
    report["ex_gain"] = round(report["fine_tuned"]["execution_accuracy"] - report["base"]["execution_accuracy"], 4)
    write_json(out_dir / "report.json", report)
    write_jsonl(out_dir / "predictions.jsonl", predictions)
    (out_dir / "report.md").write_text(render_markdown(report, predictions))
    return report


def render_markdown(report: dict, predictions: list[dict]) -> str:
    base, tuned = report["base"], report["fine_tuned"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = [
        f"# Evaluation on {report['questions']} held-out questions", "",
        "| metric | base | fine-tuned |", "|---|---|---|",
    ]
    for key in ("execution_accuracy", "execution_accuracy_unseen_sql", "exact_match", "loss", "perplexity"):
        lines.append(f"| {key} | {fmt(base[key])} | {fmt(tuned[key])} |")
    for section in ("by_benchmark", "by_difficulty"):
        lines += ["", f"## EX {section.replace('_', ' ')}", "", "| group | n | base | fine-tuned |", "|---|---|---|---|"]
        for group, stats in tuned[section].items():
            lines.append(f"| {group} | {stats['n']} | {fmt(base[section][group]['ex'])} | {fmt(stats['ex'])} |")
    lines += ["", "## Example predictions (fine-tuned)", "", "| question | predicted SQL | verdict |", "|---|---|---|"]
    for row in [p for p in predictions if p["model"] == "fine_tuned"][:10]:
        cell = lambda s: s.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {cell(row['question'])} | `{cell(row['pred_sql'])}` | {row['reason']} |")
    return "\n".join(lines) + "\n"
