"""Incremental preparation: re-materializing with nothing changed reuses the stored version found by input hash."""

import dagster as dg

from t2s_pipeline.assets.golden_pairs import golden_pairs
from t2s_pipeline.assets.raw_benchmarks import raw_benchmarks
from t2s_pipeline.assets.trajectories import trajectories
from t2s_pipeline.resources.storage import DirectoryIOManager, list_versions, read_manifest

DATA_HALF = [raw_benchmarks, golden_pairs, trajectories]


def run(instance, tmp_path, trajectories_config=None, golden_config=None):
    result = dg.materialize(
        DATA_HALF, resources={"io_manager": DirectoryIOManager(root=str(tmp_path / "storage"))},
        run_config={"ops": {"golden_pairs": {"config": {"workers": 1, **(golden_config or {})}},
                            "trajectories": {"config": trajectories_config or {}}}},
        instance=instance)
    assert result.success
    return {name: result.asset_materializations_for_node(name)[0].metadata for name in ("golden_pairs", "trajectories")}


def test_unchanged_inputs_reuse_the_stored_versions_and_a_change_recomputes_only_downstream(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    root = str(tmp_path / "storage")
    first = run(instance, tmp_path)
    assert not first["golden_pairs"]["reused"].value and not first["trajectories"]["reused"].value

    second = run(instance, tmp_path)
    for name in ("golden_pairs", "trajectories"):
        assert second[name]["reused"].value, name
        assert second[name]["version"].value == first[name]["version"].value
        assert second[name]["data_version"].value == first[name]["data_version"].value
        assert read_manifest(root, name)["version"] == first[name]["version"].value
        assert len(list_versions(root, name)) == 1  # nothing copied

    # A trajectories setting changes: its input hash changes, golden_pairs is still reused.
    third = run(instance, tmp_path, trajectories_config={"seed": 1})
    assert third["golden_pairs"]["reused"].value and not third["trajectories"]["reused"].value
    assert len(list_versions(root, "trajectories")) == 2

    # Back to the first settings: the first trajectories version is found again among the kept ones.
    fourth = run(instance, tmp_path)
    assert fourth["trajectories"]["reused"].value
    assert fourth["trajectories"]["version"].value == first["trajectories"]["version"].value

    # force recomputes even with nothing changed.
    forced = run(instance, tmp_path, golden_config={"force": True})
    assert not forced["golden_pairs"]["reused"].value
    assert forced["golden_pairs"]["version"].value != first["golden_pairs"]["version"].value


def test_base_model_from_a_local_folder_is_reused_until_one_of_its_files_changes(tmp_path, tiny_base_dir,
                                                                                 trajectories_dir):
    import shutil

    from t2s_pipeline.assets.base_model import base_model
    from t2s_pipeline.resources.storage import publish_directory

    root = tmp_path / "storage"
    publish_directory(root, ["trajectories"], trajectories_dir, "run0")  # copied: the fixture stays
    model = shutil.copytree(tiny_base_dir, tmp_path / "model")

    def materialize() -> bool:
        stored_trajectories = dg.AssetSpec("trajectories").with_io_manager_key("io_manager")
        result = dg.materialize([base_model, stored_trajectories],
                                resources={"io_manager": DirectoryIOManager(root=str(root))},
                                run_config={"ops": {"base_model": {"config": {"model": str(model)}}}})
        assert result.success
        return result.asset_materializations_for_node("base_model")[0].metadata["reused"].value

    assert materialize() is False
    assert materialize() is True
    (model / "generation_config.json").write_text('{"max_new_tokens": 7}')
    assert materialize() is False
