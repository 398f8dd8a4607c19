"""The test_suites asset: suites for every database of the embedded benchmark, kill rates in its metadata,
reused when nothing changed."""

import json

import dagster as dg

from t2s_pipeline.assets import test_suites as suites_module
from t2s_pipeline.assets.golden_pairs import golden_pairs
from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.resources.storage import DirectoryIOManager, current_version_path


def run(instance, tmp_path, candidates=8):
    result = dg.materialize(
        [raw_benchmarks, golden_pairs, suites_module.test_suites],
        resources={"io_manager": DirectoryIOManager(root=str(tmp_path / "storage"))},
        run_config={"ops": {"golden_pairs": {"config": {"workers": 1}},
                            "test_suites": {"config": {"workers": 1, "candidates": candidates}}}},
        instance=instance)
    assert result.success
    return result.asset_materializations_for_node("test_suites")[0].metadata


def test_test_suites_asset(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    first = run(instance, tmp_path)
    assert not first["reused"].value
    assert first["databases"].value == 5 and 5 <= first["variants"].value <= 5 * 8
    assert first["suite_kill_rate"].value > first["original_kill_rate"].value
    assert first["unkilled_mutants"].value.startswith("| database | gold | mutant not killed |")
    folder = current_version_path(tmp_path / "storage", "test_suites")
    summary = json.loads((folder / "report.json").read_text())
    for db_id, report in summary["by_database"].items():
        files = sorted(p.name for p in (folder / db_id).glob("variant-*.sqlite"))
        assert files == sorted(v["file"] for v in report["variants"])
        assert (folder / db_id / "report.json").is_file()

    assert run(instance, tmp_path)["reused"].value  # same inputs, config and code
    assert not run(instance, tmp_path, candidates=9)["reused"].value
