"""The eval_report asset in Dagster: its materialization metadata (tables, plots) and its two checks."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import pytest

from t2s_pipeline.assets.eval_report import (
    compare_reports, eval_report, eval_report_no_regression, eval_report_not_worse_than_base, previous_version,
)
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path, publish_directory

UPSTREAM = ("base_model", "trajectories", "lora_adapter", "raw_benchmarks", "rl_adapter", "test_suites")


def fake_report(ex: float, questions: int = 2) -> dict:
    return {"questions": questions, "base": {"execution_accuracy": 0.0}, "fine_tuned": {"execution_accuracy": ex}}


@pytest.fixture(scope="module")
def materialized(tmp_path_factory, tiny_base_dir, trajectories_dir, lora_adapter_dir, raw_dir):
    """eval_report materialized once, after a stored previous report that scored better (a regression)."""
    root = tmp_path_factory.mktemp("storage")
    # The RL stage's artifact: here the same untrained adapter, so the report has all three models.
    suites = tmp_path_factory.mktemp("test_suites")  # no variants: judged on the original database
    (suites / "report.json").write_text("{}")
    sources = dict(zip(UPSTREAM, (tiny_base_dir, trajectories_dir, lora_adapter_dir, raw_dir, lora_adapter_dir,
                                  suites)))
    for key, folder in sources.items():
        publish_directory(root, [key], folder, "upstream0")
    previous = tmp_path_factory.mktemp("previous_report")
    (previous / "report.json").write_text(json.dumps(fake_report(1.0)))
    publish_directory(root, ["eval_report"], previous, "previous")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("T2S_STORAGE", str(root))  # asset bodies write under the storage's scratch folder
        result = dg.materialize(
            [eval_report, eval_report_not_worse_than_base, eval_report_no_regression,
             *(dg.AssetSpec(key) for key in UPSTREAM)],
            selection=[eval_report],
            resources={"io_manager": DirectoryIOManager(root=str(root))},
            run_config={"ops": {"eval_report": {"config": {"max_new_tokens": 8, "sampled_ex": 2}}}},
            instance=dg.DagsterInstance.ephemeral(),
        )
    return result, root


def test_materialization_metadata_has_the_tables_and_the_plots(materialized):
    result, root = materialized
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    report_md = metadata["report"].value
    assert isinstance(metadata["report"], dg.MarkdownMetadataValue)
    assert "## EX by benchmark" in report_md and "## EX by difficulty" in report_md
    assert "| group | n | base | fine-tuned | RL |" in report_md
    assert "## Example predictions (RL)" in report_md and "| RL against fine-tuned |" in report_md
    assert list(metadata)[0] == "accuracy"  # the first thing the UI shows: model x EX figures
    table = metadata["accuracy"].value
    assert table.splitlines()[0] == "| model | EX (test suite) | EX (original db) | EX unseen SQL | EM |"
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == ["base", "SFT", "RL"]
    assert report_md.count("](data:image/png;base64,iVBORw0KGgo") >= 2  # the plots inlined in the report
    for key in ("base_execution_accuracy", "fine_tuned_execution_accuracy", "fine_tuned_record_f1", "ex_gain",
                "rl_execution_accuracy", "rl_ex_gain", "best_adapter", "rl_vs_fine_tuned_fixed",
                "rl_vs_fine_tuned_broken", "rl_vs_fine_tuned_p_value", "fine_tuned_vs_base_p_value",
                "fine_tuned_sampled_execution_accuracy", "rl_sampled_execution_accuracy"):
        assert key in metadata, key
    folder = current_version_path(root, "eval_report")
    assert (folder / "loss_curves.png").is_file() and (folder / "report.json").is_file()


def test_blocking_check_passes_and_the_regression_check_warns(materialized):
    result, _ = materialized
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"eval_report_not_worse_than_base", "eval_report_no_regression"}
    assert checks["eval_report_not_worse_than_base"].passed  # untrained adapter: base EX == fine-tuned EX
    regression = checks["eval_report_no_regression"]
    assert not regression.passed  # the stored previous report scored 1.0
    assert regression.severity == dg.AssetCheckSeverity.WARN
    assert regression.metadata["previous_execution_accuracy"].value == 1.0
    assert result.success  # a warning does not fail the run


def test_the_regression_check_is_not_blocking_and_is_registered():
    from t2s_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.name: k for k in graph.asset_check_keys}
    assert "eval_report_no_regression" in keys
    assert not graph.get_check_spec(keys["eval_report_no_regression"]).blocking


def test_previous_version_is_the_newest_other_version(tmp_path):
    versions = tmp_path / "eval_report" / "versions"
    for name in ("20260101T000000-aaaaaaaa", "20260102T000000-bbbbbbbb", "20260103T000000-cccccccc"):
        (versions / name).mkdir(parents=True)
        time.sleep(0.01)
    assert previous_version(versions / "20260103T000000-cccccccc").name == "20260102T000000-bbbbbbbb"
    assert previous_version(versions / "20260102T000000-bbbbbbbb").name == "20260103T000000-cccccccc"
    # Same second: the later mtime is the newer.
    (versions / "20260103T000000-dddddddd").mkdir()
    os.utime(versions / "20260103T000000-cccccccc", ns=(0, 0))
    assert previous_version(versions / "20260102T000000-bbbbbbbb").name == "20260103T000000-dddddddd"
    only = tmp_path / "x" / "versions" / "one"
    only.mkdir(parents=True)
    assert previous_version(only) is None
    assert previous_version(tmp_path) is None  # not a versions folder


def test_the_regression_check_watches_the_adapter_that_is_merged():
    current = {**fake_report(0.5), "rl": {"execution_accuracy": 0.7}, "best_adapter": "rl"}
    previous = {**fake_report(0.6), "best_adapter": "fine_tuned"}
    passed, metadata = compare_reports(current, previous)
    assert passed and metadata["merged_adapter"] == "rl" and metadata["execution_accuracy"] == 0.7
    assert metadata["previous_merged_adapter"] == "fine_tuned" and metadata["previous_execution_accuracy"] == 0.6
    assert not compare_reports({**current, "rl": {"execution_accuracy": 0.55}}, previous)[0]


def test_compare_reports():
    assert compare_reports(fake_report(0.5), None)[0]
    assert compare_reports(fake_report(0.5), fake_report(0.5))[0]
    assert compare_reports(fake_report(0.6), fake_report(0.5))[0]
    passed, metadata = compare_reports(fake_report(0.4), fake_report(0.5))
    assert not passed and metadata["change"] == -0.1
    assert compare_reports(fake_report(0.45), fake_report(0.5), tolerance=0.1)[0]


def test_the_agent_config_and_its_metadata(tmp_path):
    from t2s_pipeline.assets.eval_report import AgentEvalConfig, EvalReportConfig, agent_settings, report_metadata

    assert EvalReportConfig().agent.enabled is False and agent_settings(EvalReportConfig().agent, 16) is None
    settings = agent_settings(AgentEvalConfig(enabled=True, max_turns=5), 8)
    assert (settings.mode, settings.max_turns, settings.batch_size) == ("tools", 5, 8)
    assert agent_settings(AgentEvalConfig(enabled=True, mode="incremental", show_rows=True), 8).show_rows is True
    with pytest.raises(ValueError, match="mode must be one of"):
        agent_settings(AgentEvalConfig(enabled=True, mode="chat"), 8)
    report = {**fake_report(0.5), "ex_gain": 0.5, "agent": {"settings": {}, "fine_tuned": {
        "execution_accuracy": 0.75, "turns_per_question": 4.5, "repairs": 3}}}
    for name in ("base", "fine_tuned"):
        report[name].update(execution_accuracy_unseen_sql=None, exact_match=0.0, record_f1=0.0, loss=1.0,
                            perplexity=2.7)
    (tmp_path / "report.md").write_text("# report")
    metadata = report_metadata(report, tmp_path)
    assert (metadata["fine_tuned_agent_execution_accuracy"], metadata["fine_tuned_agent_turns_per_question"],
            metadata["fine_tuned_agent_repairs"]) == (0.75, 4.5, 3)
    assert "base_agent_execution_accuracy" not in metadata
