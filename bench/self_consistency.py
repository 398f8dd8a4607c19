"""Self-consistency against greedy decoding on the embedded default (a script, not a timed test).

    python bench/self_consistency.py [--samples 5] [--temperature 1.0] [--adapter sft|rl|best] [--storage DIR]
                                     [--constraint default|grammar|rules|grammar+rules|none]

Reads the artifacts of a `make demo` run (base_model, lora_adapter, rl_adapter, trajectories,
raw_benchmarks, eval_report in $T2S_STORAGE, default ./.t2s_storage) and scores the same held-out
questions twice with the same adapter: greedy decoding (the baseline, measured in the same run), and
self-consistency (the greedy query plus samples - 1 sampled ones, the answer voted by execution
result). Both decode under the same constraint (--constraint; default: the base model folder's, as
eval_report decodes). Prints execution accuracy,
EX on unseen SQL and the seconds of each, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--adapter", choices=("sft", "rl", "best"), default="best",
                        help="which adapter: the SFT one, the RL one, or the one eval_report found best")
    parser.add_argument("--storage", default=os.environ.get("T2S_STORAGE", ".t2s_storage"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--constraint", default="default", help="the constraint both decode under "
                        "(modeling/constraint.py); default: the base model folder's")
    args = parser.parse_args()

    import torch

    from t2s_pipeline.sql.judge_many import judge_many
    from t2s_pipeline.modeling.constraint import constraint_contexts
    from t2s_pipeline.modeling.decoding import resolve_constraint
    from t2s_pipeline.evaluation.report import (
        _prediction_row, _question_and_evidence, load_test_samples, predict, summarize,
    )
    from t2s_pipeline.resources.storage import current_version_path

    version = lambda key: current_version_path(args.storage, key)
    adapter = args.adapter
    if adapter == "best":
        report = json.loads((version("eval_report") / "report.json").read_text())
        adapter = "rl" if report.get("best_adapter") == "rl" else "sft"
    adapter_dir = version("rl_adapter" if adapter == "rl" else "lora_adapter") / "adapter"
    samples = load_test_samples(version("trajectories"))
    raw = version("raw_benchmarks")
    db_paths = [raw / "databases" / f"{s['meta']['db_id']}.sqlite" for s in samples]
    constraint = resolve_constraint(args.constraint, version("base_model"))
    contexts = constraint_contexts(constraint, [_question_and_evidence(s) for s in samples], db_paths)
    print(f"{len(samples)} held-out questions; adapter {adapter} ({adapter_dir}); {args.samples} samples at "
          f"temperature {args.temperature}; constraint {constraint}")
    figures = {}
    for name, n in (("greedy", 1), (f"self-consistency@{args.samples}", args.samples)):
        torch.manual_seed(args.seed)
        start = time.monotonic()
        sqls, losses, _ = predict(name, version("base_model"), adapter_dir, samples, n_samples=n,
                                  temperature=args.temperature, db_paths=db_paths, log=lambda m: None,
                                  contexts=contexts)
        verdicts = judge_many([(db, s["meta"]["gold_sql"], sql) for db, s, sql in zip(db_paths, samples, sqls)])
        rows = [_prediction_row(name, s, sql, v, loss) for s, sql, v, loss in zip(samples, sqls, verdicts, losses)]
        summary = summarize(rows)
        figures[name] = (summary["execution_accuracy"], summary["execution_accuracy_unseen_sql"],
                         time.monotonic() - start)
        ex, unseen, seconds = figures[name]
        print(f"  {name:<20} EX {ex:.3f}  unseen SQL {unseen if unseen is None else f'{unseen:.3f}'}  "
              f"{seconds:.1f} s")
    (greedy, _, g_s), (voted, _, v_s) = figures.values()
    print(f"self-consistency - greedy: {voted - greedy:+.3f} EX ({'not worse' if voted >= greedy else 'WORSE'}); "
          f"time ratio {v_s / g_s:.2f}x")


if __name__ == "__main__":
    main()
