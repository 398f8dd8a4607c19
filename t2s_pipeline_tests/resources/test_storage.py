"""DirectoryIOManager: round trips through real Dagster runs, and atomicity under failure and SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from t2s_pipeline.resources.storage import (
    DirectoryIOManager,
    current_version_path,
    publish_directory,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def chain(content: str, fail: bool = False) -> list[dg.AssetsDefinition]:
    """golden_pairs writes `content` into its scratch dir; trajectories copies what it read."""

    @dg.asset
    def golden_pairs(context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[DirectoryIOManager]) -> Path:
        out = io_manager.scratch_dir("golden_pairs", context.run.run_id)
        (out / "pairs.jsonl").write_text(content)
        (out / "stats.json").write_text("{}")
        if fail:
            raise RuntimeError("failed half-way through the asset body")
        return out

    @dg.asset
    def trajectories(
        context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[DirectoryIOManager], golden_pairs: Path
    ) -> Path:
        out = io_manager.scratch_dir("trajectories", context.run.run_id)
        (out / "seen.txt").write_text((golden_pairs / "pairs.jsonl").read_text())
        return out

    return [golden_pairs, trajectories]


def materialize(root: Path, assets, selection=None, raise_on_error=True, keep_versions=3):
    io_manager = DirectoryIOManager(root=str(root), keep_versions=keep_versions)
    return dg.materialize(
        assets,
        selection=selection,
        resources={"io_manager": io_manager},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def stored_text(root: Path, asset: str, file: str) -> str:
    return (current_version_path(root, asset) / file).read_text()


def root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def test_round_trip_versions_and_pruning(tmp_path):
    result = materialize(tmp_path, chain("v1"))
    assert result.success
    stored = current_version_path(tmp_path, "golden_pairs")
    assert stored.parent == tmp_path / "golden_pairs" / "versions"
    assert (tmp_path / "golden_pairs" / "CURRENT").read_text().strip() == stored.name
    assert sorted(p.name for p in stored.iterdir()) == ["pairs.jsonl", "stats.json"]
    assert stored_text(tmp_path, "trajectories", "seen.txt") == "v1"  # downstream got the Path
    metadata = result.asset_materializations_for_node("golden_pairs")[0].metadata
    assert metadata["files"].value == 2 and metadata["version"].value == stored.name
    assert not any((tmp_path / ".scratch").iterdir())  # scratch output was moved, not left behind

    for n in range(2, 6):
        assert materialize(tmp_path, chain(f"v{n}"), keep_versions=3).success
        assert stored_text(tmp_path, "trajectories", "seen.txt") == f"v{n}"
    kept = (tmp_path / "golden_pairs" / "versions").iterdir()
    assert sorted((v / "pairs.jsonl").read_text() for v in kept) == ["v3", "v4", "v5"]  # the newest
    assert stored_text(tmp_path, "golden_pairs", "pairs.jsonl") == "v5"


def test_failed_asset_body_leaves_previous_version_current(tmp_path):
    assert materialize(tmp_path, chain("good")).success
    before = current_version_path(tmp_path, "golden_pairs")

    assets = chain("half-written", fail=True)
    assert not materialize(tmp_path, assets, selection=["golden_pairs"], raise_on_error=False).success
    assert current_version_path(tmp_path, "golden_pairs") == before
    # A downstream-only run loads the stored upstream: still the good content.
    assert materialize(tmp_path, assets, selection=["trajectories"]).success
    assert stored_text(tmp_path, "trajectories", "seen.txt") == "good"


SLOW_PUBLISH = """
import sys, time
from pathlib import Path
from t2s_pipeline.resources import local_store, store_layout
real_copy = store_layout.copy_file
def slow_copy(src, dst):
    real_copy(src, dst)
    time.sleep(0.02)
store_layout.copy_file = slow_copy
local_store.publish_directory(Path(sys.argv[1]), ["golden_pairs"], Path(sys.argv[2]), "childrun", 3)
"""


def written_dirs(asset_dir: Path) -> list[Path]:
    return [*asset_dir.glob(".staging-*"), *(asset_dir / "versions").iterdir()]


def test_sigkill_during_copy_keeps_old_version(tmp_path):
    root, big = tmp_path / "store", tmp_path / "big"
    old_source = tmp_path / "old"
    old_source.mkdir()
    (old_source / "pairs.jsonl").write_text("old")
    old = publish_directory(root, ["golden_pairs"], old_source, "firstrun")
    big.mkdir()
    for i in range(200):
        (big / f"part-{i:03d}.jsonl").write_text("new" * 100)

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", SLOW_PUBLISH, str(root), str(big)], env=env)
    asset_dir = root / "golden_pairs"
    deadline = time.monotonic() + 20
    while not any(len(list(d.iterdir())) >= 5 for d in written_dirs(asset_dir) if d != old):
        assert child.poll() is None and time.monotonic() < deadline, "the copy never started"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL

    assert current_version_path(root, "golden_pairs") == old
    assert (old / "pairs.jsonl").read_text() == "old"
    assert [p.name for p in (asset_dir / "versions").iterdir()] == [old.name]  # nothing partial
    [staging] = asset_dir.glob(".staging-*")
    assert 5 <= len(list(staging.iterdir())) < 200  # the kill landed mid-copy

    # The next publish succeeds and sweeps the leftover once it is stale.
    hours_ago = time.time() - 7200
    os.utime(staging, (hours_ago, hours_ago))
    new = publish_directory(root, ["golden_pairs"], big, "thirdrun")
    assert current_version_path(root, "golden_pairs") == new
    assert len(list(new.iterdir())) == 200
    assert not staging.exists()


def test_missing_upstream_names_the_asset(tmp_path):
    io_manager = DirectoryIOManager(root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"asset 'golden_pairs' under .*materialize it first"):
        io_manager.load_input(dg.build_input_context(asset_key=dg.AssetKey("golden_pairs")))

    with pytest.raises(Exception) as failure:  # the same error, raised through a real run
        materialize(tmp_path, chain("x"), selection=["trajectories"])
    assert isinstance(root_cause(failure.value), FileNotFoundError)
    assert "golden_pairs" in str(root_cause(failure.value))


def test_bad_output_names_the_asset(tmp_path):
    @dg.asset
    def golden_pairs() -> int:
        return 42

    with pytest.raises(Exception) as failure:
        materialize(tmp_path, [golden_pairs])
    assert isinstance(root_cause(failure.value), TypeError)
    assert "asset 'golden_pairs' must return a directory Path, got int" in str(root_cause(failure.value))

    io_manager = DirectoryIOManager(root=str(tmp_path))
    context = dg.build_output_context(asset_key=dg.AssetKey("golden_pairs"), run_id="r1")
    with pytest.raises(FileNotFoundError, match="asset 'golden_pairs' returned .* not an existing directory"):
        io_manager.handle_output(context, tmp_path / "nowhere")
    assert current_version_path(tmp_path, "golden_pairs") is None


def test_default_root_comes_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("T2S_STORAGE", str(tmp_path / "from-env"))
    assert DirectoryIOManager().root_path == tmp_path / "from-env"
    monkeypatch.delenv("T2S_STORAGE")
    monkeypatch.chdir(tmp_path)
    assert DirectoryIOManager().root_path == tmp_path / ".t2s_storage"
