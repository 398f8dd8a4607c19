"""The eval_report_no_regression check finds the previous report through the storage layer, on a local
folder and on S3 (where the current report is a download, outside any versions folder)."""

import json
from pathlib import Path

import dagster as dg
import pytest

from t2s_pipeline.assets.eval_report import eval_report_no_regression
from t2s_pipeline.resources.storage import DirectoryIOManager, list_versions
from t2s_pipeline_tests.resources.rclone_s3 import BUCKET, s3  # noqa: F401 (s3: a fixture)


def report_asset(execution_accuracy: float):
    """A stand-in eval_report that writes only report.json (the check reads nothing else)."""
    @dg.asset(name="eval_report", code_version="1")
    def eval_report(context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[DirectoryIOManager]) -> Path:
        out = io_manager.scratch_dir("eval_report", context.run.run_id)
        report = {"questions": 4, "base": {"execution_accuracy": 0.0},
                  "fine_tuned": {"execution_accuracy": execution_accuracy}}
        (out / "report.json").write_text(json.dumps(report))
        return out

    return eval_report


@pytest.mark.parametrize("where", ["local", "s3"])
def test_the_regression_check_finds_the_previous_report(where, request, tmp_path, monkeypatch):
    if where == "s3":
        request.getfixturevalue("s3")
        root = f"s3://{BUCKET}/reports"
    else:
        root = str(tmp_path / "storage")
    monkeypatch.setenv("T2S_STORAGE", root)
    io_manager = DirectoryIOManager(root=root)
    instance = dg.DagsterInstance.ephemeral()

    def run(execution_accuracy: float) -> dict:
        result = dg.materialize([report_asset(execution_accuracy), eval_report_no_regression], instance=instance,
                                resources={"io_manager": io_manager})
        assert result.success  # the check warns, never fails the run
        [check] = result.get_asset_check_evaluations()
        return {"passed": check.passed, **{k: v.value for k, v in check.metadata.items()}}

    first = run(0.75)
    assert first["passed"] and first["previous"] == "none: first report"
    second = run(0.5)  # worse than the first: a regression
    versions = [m["version"] for m in list_versions(root, "eval_report")]
    assert len(versions) == 2
    assert not second["passed"] and second["previous_execution_accuracy"] == 0.75
    assert second["previous_version"] == versions[1]
    third = run(0.5)  # compared with the second, not the first
    assert third["passed"] and third["previous_execution_accuracy"] == 0.5
