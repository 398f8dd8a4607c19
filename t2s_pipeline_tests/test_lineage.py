"""Lineage: code versions, data versions from manifests, and staleness after a code change."""

import json

import dagster as dg
import pytest
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from t2s_pipeline.definitions import CHAIN, defs
from t2s_pipeline.resources.storage import DirectoryIOManager, ManifestMissingError, current_version_path, read_manifest

DATA_HALF = ["raw_benchmarks", "golden_pairs", "trajectories"]


def test_every_asset_has_a_code_version():
    for spec in defs.resolve_all_asset_specs():
        assert spec.code_version, spec.key.to_user_string()


def with_code_version(assets, name: str, code_version: str):
    return [a.map_asset_specs(lambda spec: spec.replace_attributes(code_version=code_version))
            if a.key.to_user_string() == name else a for a in assets]


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    """The data half of the real chain, materialized once into a fresh store and instance."""
    root = tmp_path_factory.mktemp("store")
    mp = pytest.MonkeyPatch()
    mp.setenv("T2S_STORAGE", str(root))  # asset bodies write scratch output under the same root
    instance = dg.DagsterInstance.ephemeral()
    data_half = [a for a in CHAIN if a.key.to_user_string() in DATA_HALF]
    result = dg.materialize(data_half, instance=instance,
                            resources={"io_manager": DirectoryIOManager(root=str(root))})
    assert result.success
    yield root, instance, result
    mp.undo()


def test_data_versions_are_manifest_hashes_with_upstream_versions(materialized):
    root, instance, result = materialized
    code_versions = {a.key.to_user_string(): a.code_versions_by_key[a.key] for a in CHAIN}
    for name in DATA_HALF:
        manifest = read_manifest(root, name)
        assert manifest["code_version"] == code_versions[name] and manifest["files"]
        assert all(len(f["sha256"]) == 64 and f["size"] >= 0 for f in manifest["files"])
        record = instance.get_latest_materialization_event(dg.AssetKey(name)).asset_materialization
        assert record.tags["dagster/data_version"] == manifest["data_version"]  # reported to Dagster
        assert record.metadata["data_version"].value == manifest["data_version"]
    trajectories = read_manifest(root, "trajectories")
    assert set(trajectories["upstream"]) == {"golden_pairs", "raw_benchmarks"}
    assert trajectories["upstream"]["golden_pairs"]["data_version"] == read_manifest(root, "golden_pairs")["data_version"]
    assert trajectories["upstream_versions"]["raw_benchmarks"]["version"] == read_manifest(root, "raw_benchmarks")["version"]
    assert set(trajectories["lineage"]) == {"golden_pairs", "raw_benchmarks"}  # transitive


def test_changing_one_code_version_marks_exactly_it_and_its_downstream_stale(materialized):
    """Dagster marks the changed asset stale at once (new code version); once it is rebuilt, its data version
    (the manifest hash, which includes the code version) is new and exactly its downstream assets are stale."""
    root, instance, _ = materialized
    data_half = [a for a in CHAIN if a.key.to_user_string() in DATA_HALF]

    def statuses(assets):
        resolver = get_stale_status_resolver(instance, assets)
        return {n: resolver.get_status(dg.AssetKey(n)) for n in DATA_HALF}, resolver

    status, _ = statuses(data_half)
    assert status == dict.fromkeys(DATA_HALF, StaleStatus.FRESH)

    changed = with_code_version(data_half, "golden_pairs", "changed-for-test")
    status, resolver = statuses(changed)
    assert status == {"raw_benchmarks": StaleStatus.FRESH, "golden_pairs": StaleStatus.STALE,
                      "trajectories": StaleStatus.FRESH}
    [cause] = resolver.get_stale_causes(dg.AssetKey("golden_pairs"))
    assert cause.reason == "has a new code version"

    before = read_manifest(root, "golden_pairs")["data_version"]
    assert dg.materialize(changed, selection=["golden_pairs"], instance=instance,
                          resources={"io_manager": DirectoryIOManager(root=str(root))}).success
    assert read_manifest(root, "golden_pairs")["code_version"] == "changed-for-test"
    assert read_manifest(root, "golden_pairs")["data_version"] != before
    status, resolver = statuses(changed)
    assert status == {"raw_benchmarks": StaleStatus.FRESH, "golden_pairs": StaleStatus.FRESH,
                      "trajectories": StaleStatus.STALE}
    [cause] = resolver.get_stale_causes(dg.AssetKey("trajectories"))
    assert cause.reason == "has a new dependency data version" and cause.dependency.asset_key == dg.AssetKey("golden_pairs")


def test_a_version_without_manifest_is_refused(materialized, tmp_path):
    root, _, _ = materialized
    current = current_version_path(root, "golden_pairs")
    manifest = root / "golden_pairs" / "manifests" / f"{current.name}.json"
    saved = manifest.read_text()
    manifest.unlink()
    try:
        with pytest.raises(ManifestMissingError, match="golden_pairs.*no manifest"):
            current_version_path(root, "golden_pairs")
        with pytest.raises(ManifestMissingError):
            DirectoryIOManager(root=str(root)).load_input(
                dg.build_input_context(asset_key=dg.AssetKey("golden_pairs")))
    finally:
        manifest.write_text(saved)
    assert json.loads(saved)["version"] == current.name
