"""`t2s demo`: materialize every asset on the embedded default and print the eval summary.

The terminal shows one line per asset (time and key figure) and the training progress; every Dagster
event goes to a log file, named at the start, and the run is in $DAGSTER_HOME for `dg dev`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

# The run config of each embedded model (ops, or the run-config file that holds them: the default demo's). The
# tiny T5: its base's 1,000 packed pretraining steps and the tiny-t5 preset's 1,000 full fine-tuning steps (the
# best of 4 selection evals on dev kept), greedy decoding under the constraint (5 beams scored 0.330 where greedy
# scored 0.418, in 11x the time: docs/t5.md), and no RL (GRPO trains decoder-only models). 5 min 56 s from a
# fresh clone (one thread).
DEMO_MODELS = {
    "tiny": "configs/run/demo.yaml",  # tool and repair conversations, the agent evaluation
    "tiny-t5": {"base_model": {"config": {"model": "tiny-t5"}},
                "lora_adapter": {"config": {"preset": "tiny-t5"}},
                "rl_adapter": {"config": {"enabled": False}},
                "eval_report": {"config": {"num_beams": 1}}},
}


def demo_run_config(model: str, verbose: bool) -> dict:
    """The demo's run config for an embedded model: its ops' configs, and the compact logger unless verbose."""
    if model not in DEMO_MODELS:
        raise ValueError(f"no demo for model {model!r}: pick one of {', '.join(DEMO_MODELS)}")
    ops = DEMO_MODELS[model]
    if isinstance(ops, str):
        import yaml

        from t2s_pipeline.training.config import PRESETS_DIR

        ops = yaml.safe_load((PRESETS_DIR / ops.removeprefix("configs/")).read_text())["ops"]
    return {**({"ops": ops} if ops else {}), **({} if verbose else {"loggers": {"progress": {}}})}


def demo(args: argparse.Namespace) -> int:
    import dagster as dg

    from t2s_pipeline.cli.progress import progress_logger
    from t2s_pipeline.definitions import defs
    from t2s_pipeline.resources.storage import current_version_path, resolve_root

    start = time.monotonic()
    if home := os.environ.get("DAGSTER_HOME"):
        Path(home).mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.get()  # $DAGSTER_HOME: runs show up later in `dg dev`
    log_file = Path(args.log_file or Path(instance.root_directory) / "logs" / f"demo-{time.strftime('%Y%m%dT%H%M%S')}.log")
    job = defs.resolve_job_def("full_chain")
    model = getattr(args, "model", "tiny")
    run_config = demo_run_config(model, args.verbose)
    if not args.verbose:
        _quiet_libraries()
        job = job.with_logger_defs({"progress": progress_logger(log_file.resolve())})
        print(f"full log: {log_file}", flush=True)
    print(f"materializing the full chain{'' if model == 'tiny' else f' with the {model} model'} into "
          f"{resolve_root('')} (DAGSTER_HOME={instance.root_directory})", flush=True)
    result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
    if not result.success:
        print(f"the run failed; see {log_file if not args.verbose else 'the log above'} or the run in `dg dev`",
              file=sys.stderr)
        return 1
    report_dir = current_version_path("", "eval_report")
    report = json.loads((report_dir / "report.json").read_text())
    print(f"\nfull chain materialized in {time.monotonic() - start:.0f} s")
    print_summary(report, model)
    print(f"report: {report_dir / 'report.md'}")
    merged = current_version_path("", "merged_model")
    source = json.loads((merged / "merged_from.json").read_text()) if (merged / "merged_from.json").is_file() else {}
    print(f"merged model ({source.get('adapter', 'lora_adapter')}): {merged}")
    return 0


def print_summary(report: dict, model: str = "tiny") -> None:
    """The eval report's figures per model; for a model other than the default one more line (architecture,
    beams, constraint, record F1: the seed's protocol reports it), so that the default demo prints what the
    README shows."""
    print(f"held-out questions: {report['questions']}")
    for name, label in (("base", "base"), ("fine_tuned", "SFT"), ("rl", "RL")):
        if name not in report:
            continue
        s = report[name]
        unseen = s["execution_accuracy_unseen_sql"]
        original = s.get("execution_accuracy_original_db", s["execution_accuracy"])
        print(f"  {label:<5} execution accuracy {s['execution_accuracy']:.3f} on the test suite, {original:.3f} on "
              f"the original database ({s.get('caught_by_suite', 0)} caught by the suite)"
              f"  (unseen SQL {'n/a' if unseen is None else f'{unseen:.3f}'})"
              f"  exact match {s['exact_match']:.3f}  loss {s['loss']}")
    if "rl" not in report:
        print("  RL    switched off: rl_adapter passed the SFT adapter through")
    for name, label in (("base", "base"), ("fine_tuned", "SFT"), ("rl", "RL")):
        if name in report.get("agent", {}):
            a = report["agent"][name]
            vs = a["vs_single_turn"]
            print(f"  {label:<5} as an agent: execution accuracy {a['execution_accuracy']:.3f} (single-turn "
                  f"{a['single_turn_execution_accuracy']:.3f}; {vs['fixed']} fixed, {vs['broken']} broken, sign test "
                  f"p = {vs['p_value']})  {a['tool_calls_per_question']} tool calls a question, first query wrong "
                  f"{a['first_query_wrong']}, repaired {a['repairs']} (repair share {a['repair_share']:.3f})")
    if model != "tiny":
        from t2s_pipeline.modeling.decoding import report_constraint

        settings = report["settings"]
        print(f"  {report['architecture']}, {settings['num_beams']} beam(s), "
              f"constraint {report_constraint(settings)}; SFT record F1 {report['fine_tuned']['record_f1']:.3f}")


def _quiet_libraries() -> None:
    """Library chatter off the compact view: parse warnings on model-written SQL, weight-loading bars,
    deprecation notices, and the CPU notices of DeepSpeed and bitsandbytes."""
    import warnings

    import dagster as dg
    import datasets
    import transformers

    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    logging.getLogger("DeepSpeed").setLevel(logging.ERROR)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    # The training subprocesses inherit these: no deprecation notices or weight-loading bars from them either.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def add_parser(sub) -> None:
    parser = sub.add_parser("demo", help="materialize the whole chain on the embedded default")
    parser.add_argument("--verbose", action="store_true", help="print every Dagster event instead of the compact view")
    parser.add_argument("--log-file", help="where the full log goes (default: $DAGSTER_HOME/logs/demo-<time>.log)")
    parser.add_argument("--model", choices=list(DEMO_MODELS), default="tiny",
                        help="the embedded model: 'tiny' (decoder-only Llama, LoRA, RL) or 'tiny-t5' (encoder-decoder "
                             "T5, full fine-tuning, 5 beams, no RL; docs/t5.md)")
    parser.set_defaults(func=demo)
