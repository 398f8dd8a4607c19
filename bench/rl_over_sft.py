"""GRPO's effect over the SFT adapter it starts from, over several seeds (a script, not a timed test).

    python bench/rl_over_sft.py [--seeds 0 1 2] [--preset rl-tiny] [--samples 8] [--storage DIR]

Reads the artifacts of a `make demo` run (base_model, lora_adapter, trajectories, raw_benchmarks,
test_suites in $T2S_STORAGE, default ./.t2s_storage), runs the preset's GRPO from the SFT adapter once per
seed (the entry point the rl_adapter asset launches, one process), and scores each RL adapter against the
SFT one (the baseline, measured in the same run) on the held-out questions, decoded under eval_report's
constraint and judged on the test suite:
- greedy EX, what eval_report reports, with the paired comparison (fixed, broken, sign-test p);
- sampled EX: the share correct of --samples completions per question at the preset's temperature (pass@1
  estimated from k samples; eval_report's sampled_ex): what GRPO raises in expectation. Every model draws
  with the same torch seed.
Prints a line per seed, then the mean differences. About 2 minutes a seed on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="rl-tiny")
    parser.add_argument("--samples", type=int, default=8, help="completions per question for sampled EX")
    parser.add_argument("--storage", default=os.environ.get("T2S_STORAGE", ".t2s_storage"))
    args = parser.parse_args()

    from t2s_pipeline.modeling.sql_context import sql_contexts
    from t2s_pipeline.evaluation.metrics import paired_comparison
    from t2s_pipeline.sql.judge_many import judge_many
    from t2s_pipeline.evaluation.report import _question_and_evidence, load_test_samples, predict, sample_answers
    from t2s_pipeline.resources.storage import current_version_path
    from t2s_pipeline.sql.test_suite_read import suite_databases
    from t2s_pipeline.training.rl_config import load_rl_preset

    version = lambda key: current_version_path(args.storage, key)
    missing = [key for key in ("base_model", "lora_adapter", "trajectories", "raw_benchmarks", "test_suites")
               if version(key) is None]
    if missing:
        sys.exit(f"no stored {', '.join(missing)} in {args.storage}: run `make demo` first")
    cfg = load_rl_preset(args.preset)
    samples = load_test_samples(version("trajectories"))
    db_paths = [version("raw_benchmarks") / "databases" / f"{s['meta']['db_id']}.sqlite" for s in samples]
    contexts = sql_contexts([_question_and_evidence(s) for s in samples], db_paths)
    databases = [suite_databases(version("test_suites"), s["meta"]["db_id"], p, s["meta"]["gold_sql"])
                 for s, p in zip(samples, db_paths)]
    judge = lambda answers: [v["correct"] for v in judge_many(  # answers: (question index, sql) pairs
        [(databases[i], samples[i]["meta"]["gold_sql"], sql) for i, sql in answers], timeout_s=5.0)]

    def score(adapter_dir: Path) -> dict:
        sqls, _, _ = predict("x", version("base_model"), adapter_dir, samples, log=lambda m: None, contexts=contexts)
        drawn = sample_answers(version("base_model"), adapter_dir, samples, args.samples, cfg.temperature, contexts,
                               batch_size=32)
        sampled = judge([(i, sql) for i, group in enumerate(drawn) for sql in group])
        return {"sqls": sqls, "greedy": judge(enumerate(sqls)), "sampled_ex": sum(sampled) / len(sampled)}

    def grpo(seed: int, out: Path) -> float:
        rl = {**cfg.to_dict(), "seed": seed, "init_from": str(version("lora_adapter") / "adapter")}
        run = {"model_dir": str(version("base_model")), "trajectories_dir": str(version("trajectories")),
               "raw_dir": str(version("raw_benchmarks")), "suite_dir": str(version("test_suites")),
               "output_dir": str(out), "resume": False, "rl": rl}
        (out / "run.json").write_text(json.dumps(run))
        start = time.monotonic()
        with open(out / "train.log", "w") as log:
            subprocess.run([sys.executable, "-m", "t2s_pipeline.training.grpo", "--config", str(out / "run.json")],
                           check=True, stdout=log, stderr=subprocess.STDOUT)
        return time.monotonic() - start

    print(f"{len(samples)} held-out questions; preset {args.preset} ({cfg.max_steps} steps, lr {cfg.learning_rate}); "
          f"sampled EX over {args.samples} completions at temperature {cfg.temperature}; seeds {args.seeds}")
    sft = score(version("lora_adapter") / "adapter")
    ex = lambda verdicts: sum(verdicts) / len(verdicts)
    print(f"  SFT (baseline)  greedy EX {ex(sft['greedy']):.3f}  sampled EX {sft['sampled_ex']:.4f}", flush=True)
    greedy_diffs, sampled_diffs = [], []
    with tempfile.TemporaryDirectory(prefix="rl_over_sft_") as tmp:
        for seed in args.seeds:
            out = Path(tmp) / f"seed{seed}"
            out.mkdir()
            seconds = grpo(seed, out)
            rl = score(out / "adapter")
            c = paired_comparison(sft["greedy"], rl["greedy"], sft["sqls"], rl["sqls"])
            greedy_diffs.append(c["net"])
            sampled_diffs.append(rl["sampled_ex"] - sft["sampled_ex"])
            print(f"  RL seed {seed:<3}     greedy EX {ex(rl['greedy']):.3f} ({c['net']:+d} q: {c['fixed']} fixed, "
                  f"{c['broken']} broken, p {c['p_value']:.3f})  sampled EX {rl['sampled_ex']:.4f} "
                  f"({sampled_diffs[-1] * 100:+.2f} points)  GRPO {seconds:.0f} s", flush=True)
    mean = lambda values: sum(values) / len(values)
    print(f"mean over {len(args.seeds)} seeds: greedy {mean(greedy_diffs):+.2f} questions "
          f"(RL above SFT in {sum(d > 0 for d in greedy_diffs)}, below in {sum(d < 0 for d in greedy_diffs)}); "
          f"sampled EX {mean(sampled_diffs) * 100:+.2f} points (above in {sum(d > 0 for d in sampled_diffs)}); "
          f"ratio RL/SFT sampled EX {(sft['sampled_ex'] + mean(sampled_diffs)) / sft['sampled_ex']:.4f}")


if __name__ == "__main__":
    main()
