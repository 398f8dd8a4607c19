"""The compact progress view of `t2s demo`: one line per asset, training progress, the full log in a file."""

import io

import dagster as dg

from t2s_pipeline.cli.progress import progress_logger


@dg.asset
def raw_benchmarks(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    context.log.debug("a debug line that only the log file shows")
    return dg.MaterializeResult(metadata={"kept": 755, "rejected": 3, "databases": 5, "reused": False})


@dg.asset(deps=[raw_benchmarks])
def lora_adapter(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for step in (10, 20):
        context.log.info(f"step {step}/20: loss 0.{step}, grad_norm 1.0, learning_rate 0.001, epoch 0.5")
    return dg.MaterializeResult(metadata={"steps": 20, "final_loss": 0.2, "reused": True})


@dg.asset(deps=[lora_adapter])
def eval_report() -> None:
    raise ValueError("the eval broke")


def run_with_progress(tmp_path):
    out, log_file = io.StringIO(), tmp_path / "logs" / "demo.log"
    job = dg.define_asset_job("chain").resolve(asset_graph=dg.Definitions(
        assets=[raw_benchmarks, lora_adapter, eval_report]).resolve_asset_graph())
    job = job.with_logger_defs({"progress": progress_logger(log_file, out)})
    result = job.execute_in_process(run_config={"loggers": {"progress": {}}}, raise_on_error=False)
    return result, out.getvalue().splitlines(), log_file.read_text()


def test_one_line_per_asset_with_its_figures_and_training_progress(tmp_path):
    result, lines, full_log = run_with_progress(tmp_path)
    assert not result.success
    assert len(lines) == 5, lines
    assert lines[0].split()[0] == "raw_benchmarks" and lines[0].endswith("examples 755, rejected 3, databases 5")
    assert lines[1] == "    lora_adapter: step 10/20: loss 0.10, grad_norm 1.0, learning_rate 0.001"
    assert lines[3].split()[:4] == ["lora_adapter", lines[3].split()[1], "s", "(reused)"]
    assert lines[3].endswith("steps 20, final loss 0.200")
    assert lines[4].startswith("  eval_report FAILED:") and "the eval broke" in lines[4]


def test_the_full_log_keeps_every_event(tmp_path):
    _, lines, full_log = run_with_progress(tmp_path)
    assert "a debug line that only the log file shows" in full_log
    assert "STEP_START" in full_log and not any("STEP_START" in line for line in lines)
