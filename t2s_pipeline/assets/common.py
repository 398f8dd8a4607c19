"""Small helpers shared by the asset modules: where to write, and metadata people can read."""


import json
import shutil
from pathlib import Path

import dagster as dg

from t2s_pipeline.resources.storage import resolve_root


def scratch_dir(context: dg.AssetExecutionContext) -> Path:
    """A fresh empty folder for this run's output of this asset; the IO manager publishes it."""
    path = resolve_root("") / ".scratch" / context.run.run_id / context.asset_key.to_user_string()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def preview_table(records: list[dict], columns: list[str], n: int = 5, width: int = 80) -> dg.MetadataValue:
    """A markdown table of the first n records, cells cut to `width` characters."""
    def cell(value) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in records[:n]]
    return dg.MetadataValue.md("\n".join(lines))


def counts_table(counts: dict, key_name: str = "reason", value_name: str = "count") -> dg.MetadataValue:
    lines = [f"| {key_name} | {value_name} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return dg.MetadataValue.md("\n".join(lines) if counts else "none")


def log_to(context: dg.AssetExecutionContext):
    """A print-like callable that sends core progress lines to the Dagster log."""
    return lambda message: context.log.info(message)
