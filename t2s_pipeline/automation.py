"""Automation: a weekly retraining schedule and a sensor that rebuilds the data half when benchmarks change.

- `weekly_retrain` runs the `full_chain` job on `$T2S_RETRAIN_CRON` (default: Mondays 03:00, in
  `$T2S_RETRAIN_TIMEZONE`, default UTC). It is stopped until a user turns it on in the UI (or with
  `dagster schedule start weekly_retrain`), so loading the code location never starts a training run.
- `benchmark_folder_sensor` watches the folder named by `$T2S_WATCH_DIR` (read at every tick). Its cursor is a
  hash of the folder's file names, sizes and modification times; when the hash changes it requests a `data`
  run. The first tick only records the hash. With `$T2S_WATCH_DIR` unset it never requests a run. When the
  folder is a Spider-format benchmark (it holds `tables.json`), the run reads it as a `spider_roots` entry.
"""


from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dagster as dg

RETRAIN_CRON_ENV = "T2S_RETRAIN_CRON"
RETRAIN_TIMEZONE_ENV = "T2S_RETRAIN_TIMEZONE"
WATCH_DIR_ENV = "T2S_WATCH_DIR"
DEFAULT_RETRAIN_CRON = "0 3 * * 1"  # Mondays at 03:00
SENSOR_INTERVAL_SECONDS = 60


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 over (relative path, size, mtime_ns) of every file under `folder`, hidden entries excluded."""
    root = Path(folder)
    digest = hashlib.sha256()
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed while walking: the next tick sees the result
                continue
            entries.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    for rel, size, mtime in sorted(entries):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def build_retrain_schedule(job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="weekly_retrain",
        target=job,
        cron_schedule=os.environ.get(RETRAIN_CRON_ENV) or DEFAULT_RETRAIN_CRON,
        execution_timezone=os.environ.get(RETRAIN_TIMEZONE_ENV) or "UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Retrains the whole chain on a schedule (cron from ${RETRAIN_CRON_ENV}, default "
                    f"'{DEFAULT_RETRAIN_CRON}'). Stopped until a user turns it on.",
    )


def build_benchmark_sensor(job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name="benchmark_folder_sensor",
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=(dg.DefaultSensorStatus.RUNNING if os.environ.get(WATCH_DIR_ENV)
                        else dg.DefaultSensorStatus.STOPPED),
        description=f"Starts the data job when the benchmark folder named by ${WATCH_DIR_ENV} changes "
                    "(file names, sizes or modification times).",
    )
    def benchmark_folder_sensor(context: dg.SensorEvaluationContext):
        watch_dir = os.environ.get(WATCH_DIR_ENV, "")
        if not watch_dir:
            return dg.SkipReason(f"${WATCH_DIR_ENV} is not set: no benchmark folder to watch")
        folder = Path(watch_dir).expanduser()
        if not folder.is_dir():
            return dg.SkipReason(f"benchmark folder {folder} does not exist")
        fingerprint = folder_fingerprint(folder)
        if context.cursor is None:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"watching {folder}: first tick, state recorded"),
                                   cursor=fingerprint)
        if context.cursor == fingerprint:
            return dg.SkipReason(f"benchmark folder {folder} unchanged")
        run_config = {}
        if (folder / "tables.json").is_file():  # a Spider-format folder: the data run reads it
            run_config = {"ops": {"raw_benchmarks": {"config": {"spider_roots": [str(folder.absolute())]}}}}
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=fingerprint, run_config=run_config,
                                        tags={"t2s/trigger": "benchmark_folder_changed"})],
            cursor=fingerprint,
        )

    return benchmark_folder_sensor
