"""Decoding the demo's SFT adapter free, under the hand rules and under the grammar: EX, parse failures, time.

    OMP_NUM_THREADS=1 python bench/grammar_decoding.py [--storage DIR] [--split test|dev]
        [--constraints none rules grammar grammar+rules] [--repeats 3] [--batch-size 16] [--max-new-tokens 128]
        [--show 5] [--out predictions.jsonl]

Reads a `make demo` run's artifacts (base_model, lora_adapter, trajectories, raw_benchmarks, test_suites in
$T2S_STORAGE, default ./.t2s_storage); --split dev scores the dev questions instead of the test ones (to check
a change on questions it was not tuned on). For each constraint (modeling/constraint.py; `grammar:OPTION,...` the
grammar with options changed: noscope, nonumbers, noliterals, see grammar_options), in the same run, with
the same model load and the same greedy decoding eval_report does (batch 16, 128 new tokens): the test
questions' SQL, then
- EX on the test suite (the one judge, sql/judge_many.py) and the paired comparison with the first
  constraint listed (fixed, broken);
- queries that fail to parse (sqlglot, sqlite dialect) and empty ones;
- generation time (the median of --repeats runs, each from the same seed; contexts built before, timed apart),
  and its ratio to unconstrained (`none`) and to the hand rules (`rules`) when they are in the run.
--out writes every question's prediction and verdict per constraint (JSON lines), to compare them one by one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def parse_failures(sqls: list[str]) -> list[int]:
    """Indexes of queries sqlglot cannot parse as SQLite (an empty query counts as one, and so does text sqlglot
    only keeps as an opaque Command, its fallback for what it cannot read)."""
    import logging

    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    bad = []
    for k, sql in enumerate(sqls):
        try:
            tree = sqlglot.parse_one(sql, read="sqlite") if sql.strip() else None
            if tree is None or isinstance(tree, exp.Command):
                bad.append(k)
        except (ParseError, TokenError):
            bad.append(k)
    return bad


GRAMMAR_OPTIONS = {"noscope": ("SCOPE_ALIASES", False), "nonumbers": ("KEEP_NUMBERS", False),
                   "noliterals": ("LITERALS_FROM_QUESTION", False)}


def grammar_options(module, options: str, defaults: dict = {}) -> None:
    """Set the grammar's options for one constraint of the run (`grammar:noscope,nonumbers`: the grammar without
    alias scoping nor number keeping; `noliterals`: any string and number, not the question's); '' restores the
    defaults."""
    if not defaults:
        defaults.update({flag: getattr(module, flag) for flag, _ in GRAMMAR_OPTIONS.values()})
    for flag, value in defaults.items():
        setattr(module, flag, value)
    for option in filter(None, options.split(",")):
        if option not in GRAMMAR_OPTIONS:
            sys.exit(f"unknown grammar option {option!r}: one of {', '.join(GRAMMAR_OPTIONS)}")
        flag, value = GRAMMAR_OPTIONS[option]
        setattr(module, flag, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("T2S_STORAGE", ".t2s_storage"))
    parser.add_argument("--constraints", nargs="+", default=["none", "rules", "grammar", "grammar+rules"])
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--repeats", type=int, default=1, help="time generation this many times, keep the median")
    parser.add_argument("--out", help="write each question's prediction and verdict per constraint here (JSON lines)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--show", type=int, default=5, help="queries that fail to parse to print per constraint")
    args = parser.parse_args()

    import torch

    from t2s_pipeline.evaluation.metrics import paired_comparison
    from t2s_pipeline.evaluation.report import _prompt, _question_and_evidence, load_test_samples
    from t2s_pipeline.records import read_jsonl
    from t2s_pipeline.samples.trajectories import WHOLE_QUERY_KINDS
    from t2s_pipeline.modeling.constraint import check_constraint, constraint_contexts
    from t2s_pipeline.modeling.generate import generate_sql, load_model
    from t2s_pipeline.modeling import grammar_decoding
    from t2s_pipeline.resources.storage import current_version_path
    from t2s_pipeline.samples.prompts import sample_template
    from t2s_pipeline.sql.judge_many import judge_many
    from t2s_pipeline.sql.test_suite_read import suite_databases

    for c in args.constraints:
        check_constraint(c.partition(":")[0])
    version = lambda key: current_version_path(args.storage, key)
    missing = [key for key in ("base_model", "lora_adapter", "trajectories", "raw_benchmarks", "test_suites")
               if version(key) is None]
    if missing:
        sys.exit(f"no stored {', '.join(missing)} in {args.storage}: run `make demo` first")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.split == "test":
        samples = load_test_samples(version("trajectories"))
    else:  # the dev split's whole-query samples, as load_test_samples picks the test split's
        rows = list(read_jsonl(version("trajectories") / "dev.jsonl"))
        kind = next(k for k in WHOLE_QUERY_KINDS if any(r["meta"]["kind"] == k for r in rows))
        samples = [r for r in rows if r["meta"]["kind"] == kind]
    db_paths = [version("raw_benchmarks") / "databases" / f"{s['meta']['db_id']}.sqlite" for s in samples]
    databases = [suite_databases(version("test_suites"), s["meta"]["db_id"], p, s["meta"]["gold_sql"])
                 for s, p in zip(samples, db_paths)]
    model, tokenizer = load_model(str(version("base_model")), str(version("lora_adapter") / "adapter"))
    conversations = [_prompt(s) for s in samples]
    template = sample_template(samples[0])
    print(f"{len(samples)} {args.split} questions; SFT adapter {version('lora_adapter')}; greedy, batch {args.batch_size}, "
          f"{args.max_new_tokens} new tokens; torch threads {torch.get_num_threads()}")

    results = {}
    for constraint in args.constraints:
        start = time.perf_counter()
        questions = [_question_and_evidence(s) for s in samples]
        name, _, options = constraint.partition(":")
        grammar_options(grammar_decoding, options)
        contexts = constraint_contexts(name, questions, db_paths)
        context_seconds = time.perf_counter() - start
        runs, sqls = [], []
        for _ in range(args.repeats):
            torch.manual_seed(0)
            start = time.perf_counter()
            sqls = generate_sql(model, tokenizer, conversations, args.batch_size, args.max_new_tokens, 1, template,
                                contexts)
            runs.append(time.perf_counter() - start)
        verdicts = judge_many([(d, s["meta"]["gold_sql"], sql) for d, s, sql in zip(databases, samples, sqls)],
                              timeout_s=5.0)
        grammar_options(grammar_decoding, "")
        r = results[constraint] = {"sqls": sqls, "correct": [v["correct"] for v in verdicts],
                                   "seconds": statistics.median(runs), "runs": runs,
                                   "context_seconds": context_seconds, "unparsed": parse_failures(sqls),
                                   "empty": sum(not s.strip() for s in sqls)}
        if len(results) == 1:
            print(f"\n{'constraint':16} {'EX':>6} {'correct':>8} {'unparseable':>11} {'empty':>5} {'gen s':>7} "
                  f"{'contexts s':>10}  vs {constraint}: fixed/broken", flush=True)
        paired = paired_comparison(results[args.constraints[0]]["correct"], r["correct"])
        print(f"{constraint:16} {sum(r['correct']) / len(samples):6.3f} {sum(r['correct']):8d} "
              f"{len(r['unparsed']):11d} {r['empty']:5d} {r['seconds']:7.1f} {r['context_seconds']:10.1f}  "
              f"{paired['fixed']}/{paired['broken']}", flush=True)
    for base in ("none", "rules"):
        if base in results:
            print(f"  generation time / {base}'s: " + ", ".join(
                f"{c} {r['seconds'] / results[base]['seconds']:.2f}x" for c, r in results.items() if c != base))
    print("  generation seconds of each run: " + "; ".join(
        f"{c} {' '.join(f'{t:.1f}' for t in r['runs'])}" for c, r in results.items()))
    if args.out:
        with open(args.out, "w") as f:
            for k, sample in enumerate(samples):
                f.write(json.dumps({"question": sample["meta"].get("question") or _question_and_evidence(sample),
                                    "db_id": sample["meta"]["db_id"], "gold": sample["meta"]["gold_sql"],
                                    **{c: {"sql": r["sqls"][k], "correct": r["correct"][k]}
                                       for c, r in results.items()}}) + "\n")
    for constraint, r in results.items():
        for k in r["unparsed"][:args.show]:
            print(f"  unparseable [{constraint}] {samples[k]['meta']['gold_sql']!r}\n      -> {r['sqls'][k]!r}")


if __name__ == "__main__":
    main()
