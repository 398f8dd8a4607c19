"""The UI as a user drives it: `dg dev` on 127.0.0.1 with a temporary DAGSTER_HOME (the project's dagster.yaml:
a queued run coordinator), the data half launched through the GraphQL API the UI uses, an eval_report of the tiny
models recorded in the same instance, and headless Chromium screenshots of the whole chain's lineage and of the
eval_report page. Skipped, with the reason printed, only for the screenshots where chromium is absent.
T2S_UI_SCREENSHOTS=docs copies them to docs/ui-data-lineage.png and docs/ui-eval-report.png for the README.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from t2s_pipeline_tests.browser import screenshot

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
EVAL_REPORT_EVENTS = """{ assetOrError(assetKey: {path: ["eval_report"]}) { ... on Asset {
  assetMaterializations(limit: 1) { metadataEntries { label } } } } }"""
# The global lineage with its three groups expanded: the README's link, every asset of the chain visible.
FULL_CHAIN_LINEAGE = "/asset-groups?expanded=global@global:data,global@global:training,global@global:evaluation"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def restore_default_signals() -> None:  # a background shell may have set SIGINT to ignored
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def stop_group(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    time.sleep(0.5)
    try:  # children that outlived the parent (code servers, daemon)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.mark.slow
def record_an_eval_report(storage: Path, home: Path, inputs: dict[str, Path]) -> None:
    """eval_report materialized in-process into the UI's instance (DAGSTER_HOME), from the tiny models' folders:
    the UI then shows its metadata as it would after `make demo`, in seconds instead of minutes."""
    import dagster as dg

    from t2s_pipeline.assets.eval_report import eval_report
    from t2s_pipeline.resources.storage import DirectoryIOManager, publish_directory

    for key, folder in inputs.items():
        publish_directory(storage, [key], folder, "upstream0")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("T2S_STORAGE", str(storage))
        result = dg.materialize([eval_report, *(dg.AssetSpec(key) for key in inputs)], selection=[eval_report],
                                resources={"io_manager": DirectoryIOManager(root=str(storage))},
                                run_config={"ops": {"eval_report": {"config": {"max_new_tokens": 8}}}},
                                instance=dg.DagsterInstance.get())
    assert result.success


def test_ui_launches_the_data_half_and_shows_the_chain_and_the_eval_report(
        tmp_path, tiny_base_dir, trajectories_dir, lora_adapter_dir, raw_dir):
    dg_bin = Path(sys.executable).with_name("dg")
    if not dg_bin.is_file():
        pytest.skip("dg (dagster-dg-cli) is not installed in this environment")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "T2S_STORAGE": str(tmp_path / "storage")}
    env.pop("T2S_WATCH_DIR", None)
    log = open(tmp_path / "dg_dev.log", "wb")
    server = subprocess.Popen([str(dg_bin), "dev", "--host", "127.0.0.1", "--port", str(port)], cwd=PROJECT_ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=restore_default_signals)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "dg_dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dg dev did not come up in 120 s"
            try:
                locations = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                          "locationOrLoadError { __typename } } } } }")
                entries = locations["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"] and \
                        entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                    break
            except OSError:
                pass
            time.sleep(1)
        assert [e["name"] for e in entries] == ["t2s_pipeline"]
        graphql(port, "mutation { setNuxSeen }")  # the one-time community pop-up

        params = {"selector": {"repositoryLocationName": "t2s_pipeline", "repositoryName": "__repository__",
                               "jobName": "data"}, "runConfigData": {}}
        launched = graphql(port, LAUNCH, {"p": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert launched["run"]["status"] == "QUEUED"  # dagster.yaml: the queued run coordinator
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + 180
        while (status := graphql(port, RUN_STATUS, {"id": run_id})["runOrError"]["status"]) not in TERMINAL:
            assert time.monotonic() < deadline, f"run {run_id} still {status} after 180 s"
            time.sleep(1)
        assert status == "SUCCESS"
        for name in ("raw_benchmarks", "golden_pairs", "trajectories"):
            assert (tmp_path / "storage" / name / "CURRENT").is_file(), name

        suites = tmp_path / "test_suites"  # no variants: judged on the original database
        suites.mkdir()
        (suites / "report.json").write_text("{}")
        record_an_eval_report(tmp_path / "storage", home, {
            "base_model": tiny_base_dir, "trajectories": trajectories_dir, "lora_adapter": lora_adapter_dir,
            "raw_benchmarks": raw_dir, "rl_adapter": lora_adapter_dir, "test_suites": suites})
        events = graphql(port, EVAL_REPORT_EVENTS)["assetOrError"]["assetMaterializations"]
        labels = [entry["label"] for entry in events[0]["metadataEntries"]]
        assert labels[0] == "accuracy"  # the model x EX table comes first on the page

        chromium = find_chromium()
        if chromium is None:
            reason = "chromium not found (apt-get install chromium): UI screenshots not taken"
            print(reason)
            pytest.skip(reason)
        shots = {"ui-data-lineage.png": f"http://127.0.0.1:{port}{FULL_CHAIN_LINEAGE}",
                 "ui-eval-report.png": f"http://127.0.0.1:{port}/assets/eval_report"}
        for name, url in shots.items():
            assert screenshot(chromium, url, tmp_path / name, tmp_path / f"chromium-{name}").stat().st_size > 10_000
        if target := os.environ.get("T2S_UI_SCREENSHOTS"):  # e.g. docs, for the README
            for name in shots:
                shutil.copy(tmp_path / name, Path(target) / name)
    finally:
        stop_group(server)
        log.close()
