"""`t2s demo`: materialize every asset on the embedded default and print the eval summary."""

from __future__ import annotations

import argparse
import json
import sys
import time


def demo(args: argparse.Namespace) -> int:
    import dagster as dg

    from t2s_pipeline.definitions import defs
    from t2s_pipeline.resources.storage import current_version_path, resolve_root

    start = time.monotonic()
    instance = dg.DagsterInstance.get()  # $DAGSTER_HOME: runs show up later in `dg dev`
    job = defs.resolve_job_def("full_chain")
    print(f"materializing the full chain into {resolve_root('')} (DAGSTER_HOME={instance.root_directory})", flush=True)
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    if not result.success:
        print("the run failed; see the log above or the run in `dg dev`", file=sys.stderr)
        return 1
    report_dir = current_version_path("", "eval_report")
    report = json.loads((report_dir / "report.json").read_text())
    print(f"\nfull chain materialized in {time.monotonic() - start:.0f} s")
    print(f"held-out questions: {report['questions']}")
    for name in ("base", "fine_tuned"):
        s = report[name]
        unseen = s["execution_accuracy_unseen_sql"]
        original = s.get("execution_accuracy_original_db", s["execution_accuracy"])
        print(f"  {name:<10} execution accuracy {s['execution_accuracy']:.3f} on the test suite, {original:.3f} on "
              f"the original database ({s.get('caught_by_suite', 0)} caught by the suite)"
              f"  (unseen SQL {'n/a' if unseen is None else f'{unseen:.3f}'})"
              f"  exact match {s['exact_match']:.3f}  loss {s['loss']}")
    print(f"report: {report_dir / 'report.md'}")
    print(f"merged model: {current_version_path('', 'merged_model')}")
    return 0


def add_parser(sub) -> None:
    sub.add_parser("demo", help="materialize the whole chain on the embedded default").set_defaults(func=demo)
