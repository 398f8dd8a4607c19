"""Automation: the weekly retraining schedule, the benchmark-folder sensor, dagster.yaml and workspace.yaml."""

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from t2s_pipeline.automation import build_retrain_schedule, folder_fingerprint
from t2s_pipeline.definitions import data_job, defs, full_chain_job

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_schedule_is_stopped_by_default_and_a_tick_requests_the_full_chain(tmp_path):
    schedule = defs.resolve_schedule_def("weekly_retrain")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "full_chain"
    assert schedule.cron_schedule == "0 3 * * 1"

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # Turn it on as the UI does: a RUNNING instigator state stored in the instance.
        from dagster._core.scheduler.instigation import InstigatorState, InstigatorStatus, InstigatorType
        from dagster._core.test_utils import create_test_daemon_workspace_context
        from dagster._core.workspace.load_target import WorkspaceFileTarget

        target = WorkspaceFileTarget(paths=[str(PROJECT_ROOT / "workspace.yaml")])
        with create_test_daemon_workspace_context(target, instance) as workspace_context:
            workspace = workspace_context.create_request_context()
            location = workspace.get_code_location("t2s_pipeline")  # the location name of workspace.yaml
            remote = location.get_repository("__repository__").get_schedule("weekly_retrain")
            assert remote.default_status == dg.DefaultScheduleStatus.STOPPED
            assert remote.get_current_instigator_state(None).status == InstigatorStatus.STOPPED
            state = instance.start_schedule(remote)
            assert isinstance(state, InstigatorState) and state.instigator_type == InstigatorType.SCHEDULE
            stored = instance.get_instigator_state(remote.get_remote_origin_id(), remote.selector_id)
            assert stored.status == InstigatorStatus.RUNNING

        tick_time = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)  # a Monday, 03:00
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick_time)
        data = schedule.evaluate_tick(context)
        assert data.skip_message is None
        [request] = data.run_requests
        assert request.job_name in (None, "full_chain")


def test_schedule_cron_comes_from_env(monkeypatch):
    monkeypatch.setenv("T2S_RETRAIN_CRON", "30 1 * * 6")
    schedule = build_retrain_schedule(full_chain_job)
    assert schedule.cron_schedule == "30 1 * * 6"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def evaluate_sensor(cursor):
    sensor = defs.resolve_sensor_def("benchmark_folder_sensor")
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), cursor=cursor)
    return sensor.evaluate_tick(context)


def test_sensor_requests_a_data_run_when_the_benchmark_folder_changes(tmp_path, monkeypatch):
    sensor = defs.resolve_sensor_def("benchmark_folder_sensor")
    assert sensor.job_name == data_job.name == "data"
    folder = tmp_path / "benchmarks"
    (folder / "sub").mkdir(parents=True)
    (folder / "dev.json").write_text("[]")
    (folder / "sub" / "extra.jsonl").write_text("{}\n")
    monkeypatch.setenv("T2S_WATCH_DIR", str(folder))

    first = evaluate_sensor(None)  # the first tick records the folder's state
    assert first.run_requests == [] and first.cursor == folder_fingerprint(folder)

    unchanged = evaluate_sensor(first.cursor)
    assert not unchanged.run_requests
    assert "unchanged" in unchanged.skip_message

    time.sleep(0.01)
    (folder / "sub" / "extra.jsonl").write_text('{"id": 1}\n')  # one benchmark file changes
    changed = evaluate_sensor(first.cursor)
    [request] = changed.run_requests
    assert request.job_name in (None, "data")
    assert changed.cursor != first.cursor and request.run_key == changed.cursor
    assert request.run_config == {}  # not a Spider folder: the data job runs with its configured sources

    assert not evaluate_sensor(changed.cursor).run_requests  # nothing changed since: no run

    (folder / "tables.json").write_text("[]")  # a Spider-format folder: the run reads it
    spider = evaluate_sensor(changed.cursor)
    [request] = spider.run_requests
    roots = request.run_config["ops"]["raw_benchmarks"]["config"]["spider_roots"]
    assert roots == [str(folder.absolute())]


def test_sensor_never_runs_without_a_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("T2S_WATCH_DIR", raising=False)
    result = evaluate_sensor("some-cursor")
    assert not result.run_requests and "T2S_WATCH_DIR" in result.skip_message
    monkeypatch.setenv("T2S_WATCH_DIR", str(tmp_path / "missing"))
    assert not evaluate_sensor("some-cursor").run_requests


def test_dagster_yaml_queues_runs_with_bounded_concurrency(tmp_path):
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        from dagster._core.run_coordinator import QueuedRunCoordinator

        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert 1 <= instance.run_coordinator.get_run_queue_config().max_concurrent_runs <= 2
    finally:
        instance.dispose()
    assert defs.executor == dg.in_process_executor or defs.executor.name == "in_process"
