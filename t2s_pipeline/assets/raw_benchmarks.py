"""raw_benchmarks: every configured source loaded into one normalized record set."""


import shutil
from pathlib import Path

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import counts_table, preview_table, scratch_dir
from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.sources import load_embedded
from t2s_pipeline.benchmarks.spider import load_spider
from t2s_pipeline.records import read_jsonl


class RawBenchmarksConfig(dg.Config):
    embedded: bool = Field(default=True, description="Include the shipped mini benchmark (generated from seeded data).")
    embedded_seed: int = Field(default=0, description="Seed of the embedded benchmark's data and questions.")
    spider_roots: list[str] = Field(
        default=[], description="Spider-format folders (dev.json and/or train_spider.json, tables.json, database/).")


@dg.asset(
    code_version="1",
    group_name="data",
    kinds={"sqlite", "json"},
    description="Every configured benchmark (embedded, Spider-format folders) in the common example record, "
                "with its SQLite databases, schemas, rejects and counts.",
)
def raw_benchmarks(context: dg.AssetExecutionContext, config: RawBenchmarksConfig) -> Path:
    out = scratch_dir(context)
    loaded = []
    if config.embedded:
        loaded.append(load_embedded(out / "_embedded_source", seed=config.embedded_seed))
    for root in config.spider_roots:
        loaded.append(load_spider(root, benchmark="spider"))
    if not loaded:
        raise ValueError("raw_benchmarks has no source: enable `embedded` or list `spider_roots`")
    stats = write_raw_benchmarks(loaded, out)
    shutil.rmtree(out / "_embedded_source", ignore_errors=True)  # its databases were copied into `out`
    context.log.info(f"raw_benchmarks: {stats['kept']} kept, {stats['rejected']} rejected of {stats['input']}")
    examples = list(read_jsonl(out / "examples.jsonl"))
    context.add_output_metadata({
        "input": stats["input"],
        "kept": stats["kept"],
        "rejected": stats["rejected"],
        "databases": stats["databases"],
        "rejects_by_reason": counts_table(stats["rejects_by_reason"]),
        "preview": preview_table(examples, ["id", "db_id", "question", "gold_sql"]),
        "seconds": stats["seconds"],
    })
    return out

