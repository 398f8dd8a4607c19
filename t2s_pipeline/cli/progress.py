"""A compact view of a run for the terminal: one line per asset with its time and key figure, training
progress as it goes, and every event in full in a log file.

Used by `t2s demo` as a Dagster logger in place of the console logger, which prints every debug event.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Callable, Mapping

import dagster as dg

# Training progress lines logged by the assets: the pretraining of the tiny base and the Trainer's steps.
PROGRESS = re.compile(r"(tiny base pretraining step \d+/\d+ loss [\d.]+|step \d+/\d+: (loss|reward)[^,]*(, [a-z_]+ [^,]+){0,2})")


def _n(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _figures(*names: str, labels: Mapping[str, str] | None = None) -> Callable[[dict], str]:
    """A formatter that shows the named metadata entries present, as 'label value'."""
    labels = labels or {}
    return lambda md: ", ".join(f"{labels.get(n, n.replace('_', ' '))} {_n(md[n])}" for n in names if n in md)


KEY_FIGURES: dict[str, Callable[[dict], str]] = {
    "raw_benchmarks": _figures("kept", "rejected", "databases", labels={"kept": "examples"}),
    "golden_pairs": _figures("kept", "pipe_validated", "rejected", labels={"kept": "pairs"}),
    "test_suites": _figures("variants", "suite_kill_rate", "original_kill_rate"),
    "trajectories": _figures("train_samples", "dev_samples", "test_samples", labels={
        "train_samples": "train", "dev_samples": "dev", "test_samples": "test"}),
    "base_model": _figures("parameters", "pretrain_last_loss", labels={"pretrain_last_loss": "pretraining loss"}),
    "tokenized_splits": _figures("train_samples", "train_tokens"),
    "lora_adapter": _figures("steps", "final_loss", "dev_loss", "tokens_per_second"),
    "rl_adapter": _figures("steps", "reward_mean", "share_correct"),
    "eval_report": _figures("base_execution_accuracy", "fine_tuned_execution_accuracy",
                            "fine_tuned_execution_accuracy_original_db",
                            "fine_tuned_execution_accuracy_unseen_sql", "rl_execution_accuracy", labels={
                                "base_execution_accuracy": "EX base",
                                "fine_tuned_execution_accuracy": "fine-tuned",
                                "fine_tuned_execution_accuracy_original_db": "fine-tuned on the original db alone",
                                "fine_tuned_execution_accuracy_unseen_sql": "fine-tuned on unseen SQL",
                                "rl_execution_accuracy": "RL"}),
    "merged_model": _figures("merged_adapter", "dtype", "size_mb"),
}


def _root_cause(error) -> str:
    """The innermost error's message: Dagster wraps the asset's own exception in its step error."""
    if error is None:
        return "see the log"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


class ProgressHandler(logging.Handler):
    """Prints the compact view to `out`; the materialization metadata waits for its step's success."""

    def __init__(self, out=sys.stdout):
        super().__init__(logging.DEBUG)
        self.out = out
        self.metadata: dict[str, dict] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event, step = meta.get("dagster_event"), meta.get("step_key") or ""
        if event is None:
            match = PROGRESS.search(str(meta.get("orig_message", "")))
            if match and step:
                self._print(f"    {step}: {match.group(0)}")
            return
        kind, data = event.event_type_value, event.event_specific_data
        if kind == "ASSET_MATERIALIZATION":
            self.metadata[step] = {k: getattr(v, "value", v) for k, v in data.materialization.metadata.items()}
        elif kind == "STEP_SUCCESS" and step in self.metadata:
            md = self.metadata.pop(step)
            figures = KEY_FIGURES.get(step, lambda _: "")(md)
            reused = " (reused)" if md.get("reused") is True else ""
            self._print(f"  {step:<18} {data.duration_ms / 1000:7.1f} s{reused}  {figures}")
        elif kind == "ASSET_CHECK_EVALUATION" and not data.passed:
            self._print(f"  check failed: {data.asset_key.to_user_string()} {data.check_name}")
        elif kind == "STEP_FAILURE":
            self._print(f"  {step} FAILED: {_root_cause(data.error)}")

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def progress_logger(log_file: Path, out=sys.stdout) -> dg.LoggerDefinition:
    """A Dagster logger: the compact view on `out`, every record (debug events too) in `log_file`."""

    @dg.logger(description="Compact progress on the terminal, the full log in a file.")
    def _logger(init_context: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("t2s_progress", logging.DEBUG)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        full = logging.FileHandler(log_file, encoding="utf-8")
        full.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
        log.addHandler(full)
        log.addHandler(ProgressHandler(out))
        return log

    return _logger
