"""Evaluate the base, the fine-tuned (SFT) and the RL model on the same held-out questions; write a report.

Writes report.json, report.md, predictions.jsonl and PNG plots (loss curves from the adapter's loss
log, accuracy by difficulty and by benchmark). Both models' predictions are judged together, so
each gold query runs once (see metrics.judge_many).

report.json: {"questions", "protocol", "scored_kind", "settings", "ex_gain", "rl_ex_gain", "best_adapter", "plots",
              "suite": {"dir", "databases_per_question"} | None,
              "base" | "fine_tuned" | "rl" (when an RL adapter is given): {"n", "execution_accuracy" (on the
                  suite, when there is one), "execution_accuracy_original_db", "caught_by_suite" (correct on the
                  original database, wrong on the suite), "execution_accuracy_unseen_sql",
                  "unseen_sql_questions", "exact_match", "record_f1", "loss", "perplexity", "verdicts",
                  "by_benchmark" | "by_difficulty" | "by_database": {group: {"n", "ex", "em", "f1",
                  "loss", "perplexity"}}, "generation_seconds", "seconds"},
              "judge_seconds"}
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path

from t2s_pipeline.evaluation.agent_eval import agent_markdown, evaluate_agents
from t2s_pipeline.evaluation.metrics import (
    breakdown_all,
    canonical_sql,
    exact_match,
    paired_comparison,
    rate,
    spider_hardness,
)
from t2s_pipeline.modeling.generate import (
    extract_sql,
    generate_incremental,
    generate_sql,
    load_model,
    masked_losses,
    sample_sql,
)
from t2s_pipeline.modeling.decoding import decoding_name, resolve_constraint, sampled_decoding_name
from t2s_pipeline.records import read_jsonl, write_json, write_jsonl
from t2s_pipeline.samples.prompts import sample_template
from t2s_pipeline.samples.trajectories import WHOLE_QUERY_KINDS
from t2s_pipeline.sql.compare import SPIDER
from t2s_pipeline.sql.judge_many import judge_many

MODELS = ("base", "fine_tuned", "rl")
LABELS = {"base": "base", "fine_tuned": "fine-tuned", "rl": "RL"}  # fine-tuned: the SFT adapter
EXAMPLES = 10
COMPARED = (("fine_tuned", "base"), ("rl", "fine_tuned"))  # (after, before): each stage against its start


def _prompt(sample: dict) -> list[dict]:
    return [m for m in sample["messages"] if m["role"] != "assistant"]


def _answer(sample: dict) -> str:
    """The reference query: the gold SQL, or the gold pipe query for a pipe sample (out of its ```sql block
    for a chain-of-thought answer)."""
    return extract_sql([m for m in sample["messages"] if m["role"] == "assistant"][-1]["content"])


def _question_and_evidence(sample: dict) -> str:
    """The user turn from the question on: the text a constrained query may take its literals from."""
    return [m for m in sample["messages"] if m["role"] == "user"][-1]["content"].rsplit("Question: ", 1)[-1]


def _question(sample: dict) -> str:
    return _question_and_evidence(sample).split("\n\nEvidence: ", 1)[0]


def load_test_samples(trajectories_dir, limit: int | None = None) -> list[dict]:
    """The test samples that ask for a whole query (at most `limit`), each marked with whether its
    SQL is in train. Standard-SQL samples when the split has them, else whole pipe-query samples
    (the judge reads pipe SQL back into SQLite)."""
    train_sql = {canonical_sql(s["meta"]["gold_sql"]) for s in read_jsonl(Path(trajectories_dir) / "train.jsonl")}
    test = list(read_jsonl(Path(trajectories_dir) / "test.jsonl"))
    kind = next((k for k in WHOLE_QUERY_KINDS if any(s["meta"]["kind"] == k for s in test)), None)
    samples = [s for s in test if s["meta"]["kind"] == kind]
    samples = samples[:limit] if limit else samples
    if not samples:
        raise ValueError(f"no test sample of kind {' or '.join(WHOLE_QUERY_KINDS)} in {trajectories_dir}/test.jsonl")
    for s in samples:
        s["meta"]["sql_seen_in_train"] = canonical_sql(s["meta"]["gold_sql"]) in train_sql
    return samples


def predict(name, model_dir, adapter_dir, samples, batch_size=16, max_new_tokens=128, num_beams=1,
            incremental=False, log=print, n_samples: int = 1, temperature: float = 1.0, db_paths=None,
            timeout_s: float = 5.0, contexts: list | None = None) -> tuple[list[str], list[tuple[float, int]], float]:
    """Predicted SQL and per-sample masked loss for one model; returns (sqls, losses, seconds).
    n_samples > 1: each answer is voted by execution result over the greedy query and n_samples - 1
    sampled ones (self_consistency.py), on the question's database (db_paths, in sample order).
    contexts: one context per sample to constrain decoding with (modeling/constraint.py)."""
    start = time.monotonic()
    model, tokenizer = load_model(str(model_dir), str(adapter_dir) if adapter_dir else None)
    conversations = [_prompt(s) for s in samples]
    if incremental:
        sqls = generate_incremental(model, tokenizer, conversations, batch_size, max_new_tokens)
    else:
        sqls = generate_sql(model, tokenizer, conversations, batch_size, max_new_tokens, num_beams,
                            sample_template(samples[0]), contexts)
        if n_samples > 1:
            from t2s_pipeline.evaluation.self_consistency import self_consistent_sql

            votes = self_consistent_sql(model, tokenizer, conversations, db_paths, n_samples, batch_size,
                                        max_new_tokens, temperature, chat_template=sample_template(samples[0]),
                                        timeout_s=timeout_s, greedy=sqls, contexts=contexts)
            sqls = [v["sql"] for v in votes]
    losses = masked_losses(model, tokenizer, samples, batch_size)
    del model
    seconds = time.monotonic() - start
    log(f"{name}: generated {len(sqls)} queries and scored the loss in {seconds:.1f} s")
    return sqls, losses, seconds


def sample_answers(model_dir, adapter_dir, samples, k: int, temperature: float = 1.0, contexts: list | None = None,
                   batch_size: int = 16, max_new_tokens: int = 128, seed: int = 0) -> list[list[str]]:
    """k SQL queries per sample drawn at `temperature` (under the constraint when contexts are given), the torch
    seed set first so that every model draws with the same random numbers."""
    import torch

    model, tokenizer = load_model(str(model_dir), str(adapter_dir) if adapter_dir else None)
    torch.manual_seed(seed)
    return sample_sql(model, tokenizer, [_prompt(s) for s in samples], k, max(batch_size, k), max_new_tokens,
                      temperature, chat_template=sample_template(samples[0]), contexts=contexts)


def evaluate(
    base_model_dir, adapter_dir, trajectories_dir, raw_dir, out_dir,
    limit: int | None = None, batch_size: int = 16, max_new_tokens: int = 128, timeout_s: float = 5.0, log=print,
    protocol: str = SPIDER, num_beams: int = 0, incremental: bool = False, workers: int | None = None,
    loss_log: str | Path | None = None, plots: bool = True, suite_dir: str | Path | None = None,
    rl_adapter_dir=None, n_samples: int = 1, temperature: float = 1.0, constraint: str = "none",
    sampled_ex: int = 0, agent=None,
) -> dict:
    """Score the base model, base + SFT adapter and (given rl_adapter_dir) base + RL adapter on the test
    split; write the report files to out_dir. n_samples > 1 votes each answer by execution result.

    num_beams 0 picks the model family's default: 5 beams for an encoder-decoder model (T5), else greedy.
    suite_dir: a test_suites folder; each prediction is then judged on its original database and on the
    suite's variants of it (sql/judge.py), and the report gives EX on both.
    constraint: every model decodes under the same one (modeling/constraint.py): grammar, rules, grammar+rules,
    none, or default (the base model folder's: modeling/decoding.py); any model family, with its beams.
    sampled_ex > 0: also score that many queries per question sampled at `temperature` and report the share
    correct (`sampled_execution_accuracy`: pass@1 estimated from k samples), what RL raises in expectation.
    agent: an agent_eval.AgentSettings to also score every model as an agent (report["agent"], conversations.jsonl;
    decoder-only models), its queries under the hand rules unless constraint is none."""
    if n_samples > 1 and (incremental or num_beams > 1):
        raise ValueError("n_samples > 1 (self-consistency) samples whole queries: not with incremental or num_beams")
    if sampled_ex and incremental:
        raise ValueError("sampled_ex samples whole queries: not with incremental")
    from t2s_pipeline.modeling.model_folder import is_encoder_decoder

    start = time.monotonic()
    seq2seq = is_encoder_decoder(base_model_dir)
    if agent is not None and seq2seq:
        raise ValueError("the agent evaluation needs a decoder-only chat model; this base model is an encoder-decoder one")
    if (sampled_ex or n_samples > 1) and seq2seq:
        raise ValueError("sampled_ex and n_samples > 1 sample decoder-only models; this base model is an "
                         "encoder-decoder one")
    num_beams = num_beams or (5 if seq2seq else 1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = load_test_samples(trajectories_dir, limit)
    if incremental and sample_template(samples[0]) is not None:
        raise ValueError("incremental generation asks for pipe steps in the chat format; these samples are "
                         f"in the {samples[0].get('format')!r} format")
    db_paths = {s["meta"]["db_id"]: Path(raw_dir) / "databases" / f"{s['meta']['db_id']}.sqlite" for s in samples}

    from t2s_pipeline.modeling.constraint import constraint_contexts
    constraint = resolve_constraint(constraint, base_model_dir)
    contexts = constraint_contexts(constraint, [_question_and_evidence(s) for s in samples],
                                   [db_paths[s["meta"]["db_id"]] for s in samples],
                                   pipe=samples[0]["meta"]["kind"] == "pipe_whole_query")
    models = [("base", None), ("fine_tuned", adapter_dir)] + ([("rl", rl_adapter_dir)] if rl_adapter_dir else [])
    names = [name for name, _ in models]
    predicted, losses, gen_seconds = {}, {}, {}
    for name, adapter in models:
        predicted[name], losses[name], gen_seconds[name] = predict(
            name, base_model_dir, adapter, samples, batch_size, max_new_tokens, num_beams, incremental, log,
            n_samples, temperature, [db_paths[s["meta"]["db_id"]] for s in samples], timeout_s, contexts)

    judge_start = time.monotonic()
    from t2s_pipeline.sql.test_suite_read import suite_databases  # sqlglot: only when evaluating

    databases = [suite_databases(suite_dir, s["meta"]["db_id"], db_paths[s["meta"]["db_id"]], s["meta"]["gold_sql"])
                 for s in samples]
    items = [(databases[k], s["meta"]["gold_sql"], predicted[name][k])
             for name in names for k, s in enumerate(samples)]
    verdicts = judge_many(items, timeout_s=timeout_s, protocol=protocol, workers=workers)
    judge_seconds = time.monotonic() - judge_start

    report = {"questions": len(samples), "protocol": protocol, "scored_kind": samples[0]["meta"]["kind"],
              "architecture": "encoder-decoder" if seq2seq else "decoder-only",
              "settings": {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "num_beams": num_beams,
                           "incremental": incremental, "timeout_s": timeout_s, "limit": limit,
                           "n_samples": n_samples, "sampled_ex": sampled_ex, "constraint": constraint,
                           "temperature": temperature if n_samples > 1 or sampled_ex else None,
                           "decoding": decoding_name(num_beams, constraint, incremental, n_samples)},
              "suite": {"dir": str(suite_dir), "databases_per_question": round(
                  sum(len(d) for d in databases) / len(databases), 2)} if suite_dir else None}
    predictions = []
    for m, name in enumerate(names):
        rows = [_prediction_row(name, s, predicted[name][k], verdicts[m * len(samples) + k], losses[name][k])
                for k, s in enumerate(samples)]
        report[name] = summarize(rows)
        report[name].update(generation_seconds=round(gen_seconds[name], 2), decoding=report["settings"]["decoding"])
        predictions.extend(rows)
        s = report[name]
        log(f"{name}: EX {s['execution_accuracy']:.3f}, EM {s['exact_match']:.3f}, F1 {s['record_f1']:.3f}, "
            f"loss {s['loss']} on {len(rows)} questions")
    if sampled_ex:
        for name, adapter in models:
            drawn = sample_answers(base_model_dir, adapter, samples, sampled_ex, temperature, contexts, batch_size,
                                   max_new_tokens)
            judged = judge_many([(databases[k], s["meta"]["gold_sql"], sql) for k, s in enumerate(samples)
                                 for sql in drawn[k]], timeout_s=timeout_s, protocol=protocol, workers=workers)
            report[name]["sampled_execution_accuracy"] = rate([v["correct"] for v in judged])
            report[name]["sampled_decoding"] = sampled_decoding_name(temperature, sampled_ex, constraint)
            log(f"{name}: sampled EX {report[name]['sampled_execution_accuracy']:.4f} ({sampled_ex} queries a "
                f"question at temperature {temperature})")
    report["ex_gain"] = round(report["fine_tuned"]["execution_accuracy"] - report["base"]["execution_accuracy"], 4)
    if "rl" in report:
        report["rl_ex_gain"] = round(report["rl"]["execution_accuracy"] - report["fine_tuned"]["execution_accuracy"], 4)
    verdict_of = lambda name: [verdicts[names.index(name) * len(samples) + k]["correct"] for k in range(len(samples))]
    report["comparisons"] = {}
    for after, before in COMPARED:
        if after in names:
            c = paired_comparison(verdict_of(before), verdict_of(after), predicted[before], predicted[after])
            report["comparisons"][f"{after}_vs_{before}"] = c
            log(f"{after} against {before}: {c['answers_changed']} answers changed, {c['fixed']} fixed, "
                f"{c['broken']} broken (sign test p = {c['p_value']})")
    if agent is not None:
        report["agent"] = evaluate_agents(base_model_dir, models, samples, raw_dir, databases,
                                          {name: (verdict_of(name), predicted[name]) for name in names}, out_dir,
                                          agent, protocol, timeout_s, workers, log, constraint, trajectories_dir)
    report["best_adapter"] = best_adapter(report)
    report["judge_seconds"] = round(judge_seconds, 2)
    log(f"judged {len(items)} predictions in {judge_seconds:.2f} s")

    report["plots"] = {}
    if plots:
        from t2s_pipeline.evaluation.plots import write_plots

        if loss_log is None and adapter_dir is not None:
            loss_log = Path(adapter_dir).parent / "loss_log.jsonl"
        report["plots"] = {name: path.name for name, path in write_plots(report, out_dir, loss_log).items()}
    report["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "report.json", report)
    write_jsonl(out_dir / "predictions.jsonl", predictions)
    agent_md = agent_markdown(report["agent"]) if "agent" in report else ""
    (out_dir / "report.md").write_text(render_markdown(report, predictions) + agent_md)
    return report


def best_adapter(report: dict) -> str | None:
    """The adapter to merge: of SFT (`fine_tuned`) and RL (`rl`), those not worse than the base in execution
    accuracy, the higher one (then the higher EX on unseen SQL; SFT on a full tie); None when neither passes."""
    base = report["base"]["execution_accuracy"]
    passing = [name for name in ("fine_tuned", "rl") if name in report and report[name]["execution_accuracy"] >= base]
    if not passing:
        return None
    key = lambda name: (report[name]["execution_accuracy"], report[name]["execution_accuracy_unseen_sql"] or 0.0,
                        name == "fine_tuned")
    return max(passing, key=key)


def _prediction_row(name: str, sample: dict, sql: str, verdict: dict, loss: tuple[float, int]) -> dict:
    meta = sample["meta"]
    return {
        "model": name, "id": meta["id"], "db_id": meta["db_id"], "benchmark": meta.get("benchmark"),
        "difficulty": meta.get("difficulty") or spider_hardness(meta["gold_sql"]),
        "question": _question(sample), "gold_sql": meta["gold_sql"], "pred_sql": sql,
        "ex": verdict["correct"], "ex_original": bool(verdict.get("original_correct", verdict["correct"])),
        "reason": verdict["reason"], "error": verdict["error"], "f1": verdict["f1"],
        "em": exact_match(_answer(sample), sql), "sql_seen_in_train": meta.get("sql_seen_in_train"),
        "loss_sum": round(loss[0], 4), "loss_tokens": loss[1],
    }


def _loss_figures(rows: list[dict]) -> tuple[float | None, float | None]:
    total = sum(r.get("loss_sum", 0.0) for r in rows)
    tokens = sum(r.get("loss_tokens", 0) for r in rows)
    if not tokens:
        return None, None
    loss = total / tokens
    return round(loss, 4), (round(math.exp(loss), 3) if loss < 50 else None)


def summarize(rows: list[dict]) -> dict:
    """The figures of one model's prediction rows, overall and by benchmark, difficulty and database."""
    unseen = [r["ex"] for r in rows if r.get("sql_seen_in_train") is False]
    loss, perplexity = _loss_figures(rows)
    summary = {
        "n": len(rows),
        "execution_accuracy": rate([r["ex"] for r in rows]),
        "execution_accuracy_original_db": rate([r.get("ex_original", r["ex"]) for r in rows]),
        "caught_by_suite": sum(bool(r.get("ex_original", r["ex"])) and not r["ex"] for r in rows),
        "execution_accuracy_unseen_sql": rate(unseen) if unseen else None,
        "unseen_sql_questions": len(unseen),
        "exact_match": rate([r["em"] for r in rows]),
        "record_f1": rate([r["f1"] for r in rows]),
        "loss": loss,
        "perplexity": perplexity,
        "verdicts": {reason: sum(r["reason"] == reason for r in rows) for reason in sorted({r["reason"] for r in rows})},
    }
    for section, key in (("by_benchmark", "benchmark"), ("by_difficulty", "difficulty"), ("by_database", "db_id")):
        groups = breakdown_all(rows, key)
        members: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            members[str(r.get(key))].append(r)
        for group, stats in groups.items():
            stats["loss"], stats["perplexity"] = _loss_figures(members[group])
        summary[section] = groups
    return summary


def pick_examples(predictions: list[dict], n: int = EXAMPLES, model: str = "fine_tuned") -> list[dict]:
    """Up to n of the model's predictions, half correct and half not where possible, in their order."""
    rows = [p for p in predictions if p["model"] == model]
    right = [i for i, p in enumerate(rows) if p.get("ex")]
    wrong = [i for i, p in enumerate(rows) if not p.get("ex")]
    take_right = min(len(right), max(n // 2, n - len(wrong)))
    chosen = set(right[:take_right]) | set(wrong[:n - take_right])
    return [rows[i] for i in sorted(chosen)]


def render_markdown(report: dict, predictions: list[dict]) -> str:
    base, tuned = report["base"], report["fine_tuned"]
    names = [name for name in MODELS if name in report]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
    cell = lambda s: str(s or "").replace("|", "\\|").replace("\n", " ")
    head = lambda first, cols: ["| " + " | ".join([*first, *cols]) + " |", "|" + "---|" * (len(first) + len(cols))]
    protocol = report.get("protocol", SPIDER)
    n_samples = report.get("settings", {}).get("n_samples", 1)
    lines = [
        f"# Evaluation on {report['questions']} held-out questions", "",
        f"Execution accuracy under the {protocol} protocol"
        + (" (multiset of rows, a list when the gold orders its top level, any column order)." if protocol == SPIDER
           else " (set of rows).")
        + (f" Self-consistency: each answer voted by execution result over {n_samples} queries." if n_samples > 1
           else ""), "",
        f"Decoding: {report.get('settings', {}).get('decoding', 'not recorded')}"
        + (f"; sampled EX: {tuned['sampled_decoding']}." if "sampled_decoding" in tuned else "."), "",
        *head(["metric"], [LABELS[n] for n in names]),
    ]
    suite = report.get("suite")
    if suite:
        lines[4:4] = [f"Judged on the original database and on its test-suite variants ({suite['databases_per_question']} "
                      "databases per question on average): correct only if right on every one.", ""]
        row = lambda label, key, show=fmt: f"| {label} | " + " | ".join(show(report[n].get(key)) for n in names) + " |"
        lines += [row("execution_accuracy (original database)", "execution_accuracy_original_db"),
                  row("execution_accuracy (test suite)", "execution_accuracy"),
                  row("correct on the original database, wrong on the suite", "caught_by_suite", lambda v: str(v or 0))]
    for key in ("execution_accuracy", "execution_accuracy_unseen_sql", "sampled_execution_accuracy", "exact_match",
                "record_f1", "loss", "perplexity"):
        if suite and key == "execution_accuracy":
            continue  # given above, on the suite and on the original database
        if key == "sampled_execution_accuracy" and key not in tuned:
            continue  # not asked for (sampled_ex 0)
        lines.append(f"| {key} | " + " | ".join(fmt(report[n].get(key)) for n in names) + " |")
    comparisons = report.get("comparisons") or {}
    if comparisons:
        lines += ["", "## Paired comparison", "",
                  "On the same questions: verdicts fixed (wrong, then right) and broken; p is the exact two-sided "
                  "sign test (McNemar) on the changed verdicts. Above 0.05, chance flips explain the difference.", "",
                  *head(["comparison"], ["answers changed", "fixed", "broken", "net", "p"])]
        for key, c in comparisons.items():
            after, before = key.split("_vs_")
            lines.append(f"| {LABELS[after]} against {LABELS[before]} | {c.get('answers_changed', 'n/a')} | "
                         f"{c['fixed']} | {c['broken']} | {c['net']:+d} | {c['p_value']:.3f} |")
    if report.get("best_adapter") is not None or "rl" in report:
        lines += ["", f"Best adapter not worse than the base: {LABELS.get(report.get('best_adapter'), 'none')}."]
    for section in ("by_benchmark", "by_difficulty"):
        lines += ["", f"## EX {section.replace('_', ' ')}", "",
                  *head(["group", "n"], [LABELS[n] for n in names] + [f"EM {LABELS[n]}" for n in names]
                        + [f"F1 {LABELS[names[-1]]}"])]
        for group, stats in tuned.get(section, {}).items():
            per = [report[n].get(section, {}).get(group, {}) for n in names]
            lines.append(f"| {group} | {stats['n']} | " + " | ".join(fmt(p.get("ex")) for p in per) + " | "
                         + " | ".join(fmt(p.get("em")) for p in per) + f" | {fmt(per[-1].get('f1'))} |")
    verdict_names = sorted(set().union(*(report[n].get("verdicts", {}) for n in names)))
    if verdict_names:
        lines += ["", "## Verdicts", "", *head(["verdict"], [LABELS[n] for n in names])]
        lines += [f"| {v} | " + " | ".join(str(report[n]["verdicts"].get(v, 0)) for n in names) + " |"
                  for v in verdict_names]
    shown = names[-1]
    lines += ["", f"## Example predictions ({LABELS[shown]})", "", "| question | predicted SQL | verdict | gold SQL |",
              "|---|---|---|---|"]
    for row in pick_examples(predictions, model=shown):
        pred = f"`{cell(row['pred_sql'])}`" if row["pred_sql"].strip() else "(empty)"
        lines.append(f"| {cell(row['question'])} | {pred} | {row['reason']} "
                     f"| `{cell(row.get('gold_sql'))}` |")
    if report.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{name.replace('_', ' ')}]({file})\n" for name, file in report["plots"].items()]
    return "\n".join(lines) + "\n"
