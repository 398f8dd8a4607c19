"""DirectoryIOManager on S3: a real S3-compatible server (`rclone serve s3`) on 127.0.0.1, restarted between
writing and reading; the data half of the chain stored and every artifact loaded back; faults mid-upload."""

import hashlib
import json
import time
from pathlib import Path

import dagster as dg
import pytest

from t2s_pipeline.definitions import CHAIN
from t2s_pipeline.resources.s3_store import S3Store
from t2s_pipeline.resources.storage import DirectoryIOManager, ManifestMissingError, current_version_path, read_manifest
from t2s_pipeline_tests.resources.rclone_s3 import BUCKET, KEY_ID, SECRET, s3  # noqa: F401 (s3: a fixture)

DATA_HALF = ["raw_benchmarks", "golden_pairs", "trajectories"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_half_round_trips_through_s3_across_a_server_restart(s3, tmp_path, monkeypatch):
    url = f"s3://{BUCKET}/pipeline"
    monkeypatch.setenv("T2S_STORAGE", url)  # asset bodies: scratch under $T2S_LOCAL_DIR
    instance = dg.DagsterInstance.ephemeral()
    data_half = [a for a in CHAIN if a.key.to_user_string() in DATA_HALF]
    result = dg.materialize(data_half, instance=instance, resources={"io_manager": DirectoryIOManager(root=url)})
    assert result.success
    for name in DATA_HALF:
        [event] = result.asset_materializations_for_node(name)
        assert event.metadata["path"].value.startswith(f"{url}/{name}/versions/")
    stored = s3.data_dir / BUCKET / "pipeline"
    assert (stored / "trajectories" / "CURRENT").is_file()  # the objects are on the server's disk
    assert not any((tmp_path / "local-writer" / ".scratch").glob("*/*"))  # uploaded scratch output is gone

    s3.restart()  # a new process: what is read back must have persisted
    monkeypatch.setenv("T2S_LOCAL_DIR", str(tmp_path / "local-reader"))  # a fresh machine: nothing cached
    io_manager = DirectoryIOManager(root=url)
    for name in DATA_HALF:
        manifest = read_manifest(url, name)
        folder = io_manager.load_input(dg.build_input_context(asset_key=dg.AssetKey(name)))
        assert folder.is_relative_to(tmp_path / "local-reader")
        assert folder.name == manifest["version"]
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        assert files == [f["path"] for f in manifest["files"]] and files
        for entry in manifest["files"]:
            assert sha256(folder / entry["path"]) == entry["sha256"], (name, entry["path"])
        record = instance.get_latest_materialization_event(dg.AssetKey(name)).asset_materialization
        assert record.tags["dagster/data_version"] == manifest["data_version"]
    assert (current_version_path(url, "trajectories") / "train.jsonl").stat().st_size > 0
    assert read_manifest(url, "trajectories")["upstream"]["golden_pairs"]["data_version"] == \
        read_manifest(url, "golden_pairs")["data_version"]

    # No credential value in the run's event log, metadata or manifests.
    logs = json.dumps([str(entry) for entry in instance.all_logs(result.run_id)])
    assert KEY_ID not in logs and SECRET not in logs
    for path in stored.rglob("*.json"):
        assert SECRET not in path.read_text()


def tiny_asset(content: str):
    @dg.asset(name="golden_pairs", code_version="1")
    def golden_pairs(context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[DirectoryIOManager]) -> Path:
        out = io_manager.scratch_dir("golden_pairs", context.run.run_id)
        for i in range(6):
            (out / f"part-{i}.jsonl").write_text(f"{content}-{i}")
        return out

    return golden_pairs


def test_server_lost_mid_upload_fails_clearly_and_readers_never_see_a_partial_version(s3, tmp_path, monkeypatch):
    url = f"s3://{BUCKET}/faults"
    io_manager = DirectoryIOManager(root=url)
    instance = dg.DagsterInstance.ephemeral()

    def run(content: str, raise_on_error=True):
        return dg.materialize([tiny_asset(content)], instance=instance, resources={"io_manager": io_manager},
                              raise_on_error=raise_on_error)

    assert run("good").success
    good = current_version_path(url, "golden_pairs")
    assert (good / "part-0.jsonl").read_text() == "good-0"

    real_init = S3Store.__init__
    uploaded = []

    def stop_after_two_files(self, url, storage_options=None):
        real_init(self, url, storage_options)
        real_put = self.fs.put_file

        def put_file(lpath, rpath, **kwargs):
            if len(uploaded) == 2:
                s3.stop()  # the server goes away mid-upload
            real_put(lpath, rpath, **kwargs)
            uploaded.append(rpath)

        self.fs.put_file = put_file

    monkeypatch.setattr(S3Store, "__init__", stop_after_two_files)
    started = time.monotonic()
    failed = run("partial", raise_on_error=False)
    assert not failed.success and time.monotonic() - started < 60
    [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.event_specific_data.error.to_string())
    assert "asset 'golden_pairs': storing to s3://t2s/faults failed" in message
    assert "the previous version stays current" in message
    monkeypatch.setattr(S3Store, "__init__", real_init)
    assert len(uploaded) == 2 and s3.process is None  # the server really went away mid-upload

    s3.start()
    # The partial upload is on the server, but it has no manifest and CURRENT never moved.
    prefix = s3.data_dir / BUCKET / "faults" / "golden_pairs"
    partial = [p for p in (prefix / "versions").iterdir() if p.name != good.name]
    assert len(partial) == 1 and 1 <= len(list(partial[0].iterdir())) <= 3
    assert not (prefix / "manifests" / f"{partial[0].name}.json").exists()
    monkeypatch.setenv("T2S_LOCAL_DIR", str(tmp_path / "other-reader"))
    again = current_version_path(url, "golden_pairs")
    assert again.name == good.name and (again / "part-5.jsonl").read_text() == "good-5"

    # A reader pointed at the partial version (CURRENT replaced by hand) refuses it.
    current = (prefix / "CURRENT").read_text()
    (prefix / "CURRENT").write_text(partial[0].name + "\n")
    with pytest.raises(ManifestMissingError, match="no manifest"):
        current_version_path(url, "golden_pairs")
    (prefix / "CURRENT").write_text(current)

    assert run("later").success  # once the server is back, a later run succeeds
    later = current_version_path(url, "golden_pairs")
    assert later.name != good.name and (later / "part-5.jsonl").read_text() == "later-5"


def test_t2s_env_s3_passes_credentials_as_env_vars_and_never_logs_them(s3, tmp_path, monkeypatch):
    from t2s_pipeline.definitions import resources

    url = f"s3://{BUCKET}/envs"
    monkeypatch.setenv("T2S_ENV", "s3")
    monkeypatch.setenv("T2S_STORAGE", url)
    chosen = resources()
    io_manager = chosen["io_manager"]
    assert io_manager.s3 is chosen["s3"]  # the dagster-aws S3Resource, also offered on its own
    assert isinstance(io_manager.s3.aws_secret_access_key, dg.EnvVar)  # the name, not the value
    assert io_manager.s3.aws_secret_access_key == "AWS_SECRET_ACCESS_KEY"
    assert io_manager.s3.endpoint_url == "AWS_ENDPOINT_URL" and io_manager.s3.region_name == "AWS_DEFAULT_REGION"
    assert SECRET not in json.dumps(io_manager.model_dump(), default=str)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([tiny_asset("env")], instance=instance, resources={"io_manager": io_manager})
    assert result.success
    assert (current_version_path(url, "golden_pairs") / "part-0.jsonl").read_text() == "env-0"
    logs = json.dumps([str(entry) for entry in instance.all_logs(result.run_id)])
    assert url in logs and SECRET not in logs and KEY_ID not in logs
    assert not [p for p in (s3.data_dir / BUCKET / "envs").rglob("*") if p.is_file() and SECRET in p.read_text()]

    monkeypatch.setenv("T2S_STORAGE", "/a/local/folder")
    with pytest.raises(ValueError, match="T2S_ENV=s3 needs"):
        resources()
    monkeypatch.setenv("T2S_ENV", "cloud")
    with pytest.raises(ValueError, match="expected 'local' or 's3'"):
        resources()


def test_io_manager_configured_from_a_dagster_aws_s3_resource_round_trips(s3, tmp_path, monkeypatch):
    """No AWS variables at all: endpoint, region and keys come from the S3Resource (keys as dg.EnvVar)."""
    from dagster_aws.s3 import S3Resource

    from t2s_pipeline.resources.s3_io_manager import S3DirectoryIOManager

    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("MY_S3_KEY", KEY_ID)
    monkeypatch.setenv("MY_S3_SECRET", SECRET)
    url = f"s3://{BUCKET}/from-resource"
    s3_resource = S3Resource(endpoint_url=s3.endpoint, region_name="us-east-1",
                             aws_access_key_id=dg.EnvVar("MY_S3_KEY"), aws_secret_access_key=dg.EnvVar("MY_S3_SECRET"))
    io_manager = S3DirectoryIOManager(root=url, s3=s3_resource)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([tiny_asset("resource")], instance=instance, resources={"io_manager": io_manager})
    assert result.success
    stored = s3.data_dir / BUCKET / "from-resource" / "golden_pairs"
    version = (stored / "CURRENT").read_text().strip()
    assert (stored / "versions" / version / "part-5.jsonl").read_text() == "resource-5"

    monkeypatch.setenv("T2S_LOCAL_DIR", str(tmp_path / "reader"))
    with dg.build_resources({"io_manager": io_manager}) as built:  # resolves the EnvVars, as a run does
        folder = built.io_manager.load_input(dg.build_input_context(asset_key=dg.AssetKey("golden_pairs")))
        assert built.io_manager.aws_env() == {"AWS_ENDPOINT_URL": s3.endpoint, "AWS_ACCESS_KEY_ID": KEY_ID,
                                              "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    assert folder.name == version and (folder / "part-0.jsonl").read_text() == "resource-0"
    logs = json.dumps([str(entry) for entry in instance.all_logs(result.run_id)])
    assert SECRET not in logs and KEY_ID not in logs
    assert not [p for p in stored.rglob("*") if p.is_file() and SECRET in p.read_text()]
