"""Tiny T5 recipes, measured end to end: pretrain the base, fine-tune it, score the held-out test questions.

    OMP_NUM_THREADS=1 .venv/bin/python bench/t5_recipe.py --name NAME [recipe options] [--store DIR]

The same code as the chain (training/tiny_t5.build_tiny_t5 on base_model's documents, modeling/tokenize_seq2seq,
training/train.train in this process, evaluation/report.predict, sql/judge_many on the test suite) without
Dagster, so that a recipe takes minutes. --store: a finished demo store (.t2s_storage) whose trajectories,
raw_benchmarks and test_suites are read (read-only); without it the embedded benchmark is built in a scratch
folder and questions are judged on their original database only. A base is cached by its pretraining recipe
in --work, so fine-tuning variants reuse it. Each run appends a JSON line (recipe, seconds per stage, EX on the
suite and on the original database, record F1) to bench/t5_runs.jsonl: the record of the recipes tried.
"""

import argparse
import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

RUNS = Path(__file__).with_name("t5_runs.jsonl")


class _Log:
    def info(self, message):
        print(message, flush=True)

    warning = info


class _Pipes:
    """What train.train needs of Dagster Pipes: a log, and somewhere for the final message."""
    log = _Log()

    def report_custom_message(self, message):
        pass


def current(store: Path, asset: str) -> Path:
    return max((store / asset / "versions").iterdir())


def inputs(store: Path | None, work: Path) -> tuple[Path, Path, Path | None]:
    """(trajectories, raw_benchmarks, test_suites or None)."""
    if store:
        return current(store, "trajectories"), current(store, "raw_benchmarks"), current(store, "test_suites")
    from embedded_samples import build_samples

    if not (work / "trajectories").is_dir():
        build_samples(work, target="sql", tool_share=0.0)
    return work / "trajectories", work / "raw", None


def base(args, trajectories: Path, work: Path) -> tuple[Path, dict]:
    from t2s_pipeline.training.base_model import pretraining_documents
    from t2s_pipeline.training.tiny_t5 import TinyT5Config, build_tiny_t5

    cfg = TinyT5Config(pretrain_steps=args.pretrain_steps, pretrain_lr=args.pretrain_lr, d_model=args.d_model,
                       d_kv=args.d_model // args.heads, num_heads=args.heads, d_ff=args.d_ff, num_layers=args.layers,
                       pretrain_packed=args.packed, pretrain_packed_rows=args.rows,
                       pretrain_max_length=args.length, pretrain_target_length=args.target_length,
                       answer_share=args.answer_share, literal_variants=args.variants,
                       prefix_lm_share=args.prefix_lm_share, pretrain_batch_size=args.pretrain_batch)
    key = hashlib.sha256(json.dumps([asdict(cfg), str(trajectories)]).encode()).hexdigest()[:12]
    out = work / f"base-{key}"
    if (out / "stats.json").is_file():
        return out, json.loads((out / "stats.json").read_text())
    stats = build_tiny_t5(pretraining_documents(trajectories, cfg.literal_variants, cfg.seed), out, cfg)
    (out / "stats.json").write_text(json.dumps(stats))
    return out, stats


def fine_tune(args, base_dir: Path, trajectories: Path, raw: Path, work: Path) -> tuple[Path, dict]:
    import shutil

    from t2s_pipeline.modeling.tokenize_seq2seq import tokenize_seq2seq_splits
    from t2s_pipeline.training.config import TrainConfig, load_preset
    from t2s_pipeline.training.train import train

    tokenized = base_dir / "tokenized"
    if not tokenized.is_dir():
        tokenize_seq2seq_splits(trajectories, base_dir, tokenized, max_length=1024)
    cfg = asdict(load_preset("tiny-t5"))
    cfg.update(max_steps=args.steps, per_device_train_batch_size=args.batch, learning_rate=args.lr,
               warmup_steps=args.warmup, logging_steps=max(1, args.steps // 10),
               generation_eval_steps=args.select_every, generation_eval_samples=args.select_samples,
               generation_num_beams=args.beams, metric_for_best="execution_accuracy", finetuning=args.finetuning,
               lora_r=args.lora_r, lora_alpha=2 * args.lora_r, lora_target_modules=args.lora_targets.split(","),
               freeze_encoder=args.freeze_encoder)
    out = work / "run"
    shutil.rmtree(out, ignore_errors=True)
    selection = {"dev_samples": str(trajectories / "dev.jsonl"), "databases_dir": str(raw / "databases")}
    metrics = train(str(base_dir), str(tokenized), str(out), TrainConfig.from_dict(cfg), _Pipes(),
                    resume=False, selection=selection if args.select_every else None)
    return out / "adapter", metrics


def score(args, base_dir: Path, adapter: Path, trajectories: Path, raw: Path, suite: Path | None) -> dict:
    from t2s_pipeline.evaluation.report import _question_and_evidence, load_test_samples, predict
    from t2s_pipeline.modeling.constraint import constraint_contexts
    from t2s_pipeline.sql.judge_many import judge_many
    from t2s_pipeline.sql.test_suite_read import suite_databases

    samples = load_test_samples(trajectories, args.limit)
    db_paths = [raw / "databases" / f"{s['meta']['db_id']}.sqlite" for s in samples]
    contexts = constraint_contexts(args.constraint, [_question_and_evidence(s) for s in samples], db_paths)
    sqls, _, seconds = predict("fine_tuned", base_dir, adapter, samples, num_beams=args.beams, contexts=contexts)
    original = judge_many([(db, s["meta"]["gold_sql"], sql) for db, s, sql in zip(db_paths, samples, sqls)])
    figures = {"questions": len(samples), "generation_seconds": round(seconds, 1),
               "ex_original_db": round(sum(v["correct"] for v in original) / len(samples), 4),
               "record_f1": round(sum(v["f1"] for v in original) / len(samples), 4)}
    if suite:
        databases = [suite_databases(suite, s["meta"]["db_id"], db, s["meta"]["gold_sql"])
                     for s, db in zip(samples, db_paths)]
        judged = judge_many([(d, s["meta"]["gold_sql"], sql) for d, s, sql in zip(databases, samples, sqls)])
        figures["ex_suite"] = round(sum(v["correct"] for v in judged) / len(samples), 4)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--store", type=Path, default=None, help="a demo store (.t2s_storage), read only")
    p.add_argument("--work", type=Path, default=Path("/tmp/t5_recipe"))
    p.add_argument("--threads", type=int, default=1)
    # pretraining
    p.add_argument("--pretrain-steps", type=int, default=250)
    p.add_argument("--pretrain-lr", type=float, default=2e-3)
    p.add_argument("--pretrain-batch", type=int, default=32)
    p.add_argument("--packed", action="store_true")
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--length", type=int, default=256)
    p.add_argument("--target-length", type=int, default=128)
    p.add_argument("--answer-share", type=float, default=0.0)
    p.add_argument("--prefix-lm-share", type=float, default=0.5)
    p.add_argument("--variants", type=int, default=0)
    p.add_argument("--d-model", type=int, default=192)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    # fine-tuning
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--finetuning", default="full", choices=["full", "lora"])
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-targets", default="q,k,v,o")
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--select-every", type=int, default=0)
    p.add_argument("--select-samples", type=int, default=64)
    # evaluation
    p.add_argument("--beams", type=int, default=1)
    p.add_argument("--constraint", default="rules")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--rescore", action="store_true", help="score the last run's model again (other decoding)")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    trajectories, raw, suite = inputs(args.store, args.work)
    start = time.monotonic()
    base_dir, base_stats = base(args, trajectories, args.work)
    base_seconds = base_stats["seconds"]
    tune_start = time.monotonic()
    if args.rescore:
        adapter, metrics = args.work / "run" / "adapter", json.loads((args.work / "run" / "metrics.json").read_text())
    else:
        adapter, metrics = fine_tune(args, base_dir, trajectories, raw, args.work)
    tune_seconds = time.monotonic() - tune_start
    figures = score(args, base_dir, adapter, trajectories, raw, suite)
    row = {"name": args.name, "recipe": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                         if k not in ("name", "work", "store")},
           "judge": "test suite" if suite else "original database", "base_seconds": base_seconds,
           "pretrain_last_loss": base_stats["pretrain_last_loss"], "tune_seconds": round(tune_seconds, 1),
           "selected_step": metrics.get("selected_step"), "selected_value": metrics.get("selected_value"),
           "final_loss": metrics.get("final_loss"), **figures,
           "wall_seconds": round(time.monotonic() - start + (0 if base_seconds is None else 0), 1)}
    print(json.dumps(row), flush=True)
    with RUNS.open("a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
