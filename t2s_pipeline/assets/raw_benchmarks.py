"""raw_benchmarks: every configured source loaded into one normalized record set."""


import shutil
from itertools import islice
from typing import Optional

import dagster as dg
from pydantic import Field

from t2s_pipeline.assets.common import (
    computed, counts_table, hash_files, input_hash, preview_table, reuse_stored, scratch_dir,
)
from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.sources import load_source, resolve_sources
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.resources.storage import DirectoryIOManager


class BenchmarkSourceConfig(dg.Config):
    """One source; benchmarks/sources.py validates it and says what each kind reads."""

    kind: str = Field(description="embedded, spider, bird, synsql or jsonl.")
    path: str = Field(default="", description="The source's folder (jsonl: a .jsonl file or a folder of "
                                              "<split>.jsonl files). Empty for embedded.")
    name: str = Field(default="", description="Benchmark name in ids (<name>/<split>/<n>) and stats; "
                                              "default the kind. Two sources of one kind need two names.")
    weight: float = Field(default=1.0, gt=0, description="This source's share in a later training mix (> 0); "
                                                         "recorded per benchmark in stats.json.")
    max_samples: Optional[int] = Field(default=None, ge=1, description=(
        "Keep the first N usable examples in file order; the records after them are counted as "
        "skipped_max_samples, not as input. Empty: all."))
    splits: dict[str, str] = Field(default={}, description=(
        "Source split -> our split name, e.g. {dev: test}; only the listed splits load. Empty: every split "
        "the source has (spider: train, dev; bird: train, dev, mini_dev; synsql: train; jsonl: file stems, "
        "train for a single file)."))
    seed: int = Field(default=0, description="embedded only: seed of the generated data and questions.")
    cot_only: bool = Field(default=False, description="synsql only: keep records with a non-empty chain of "
                                                      "thought; the others are rejected as no_cot.")
    fields: dict[str, str] = Field(default={}, description=(
        "jsonl only: field -> the records' name for it, for question, sql, context, db_id, evidence, "
        "difficulty, cot (defaults: question|sql_prompt, query|sql, context|sql_context, db_id, ...)."))
    database_dir: str = Field(default="", description="jsonl only: folder of <db_id>/<db_id>.sqlite for records "
                                                      "that name a db_id; others get a database built from context.")


class RawBenchmarksConfig(dg.Config):
    sources: list[BenchmarkSourceConfig] = Field(default=[], description="The benchmark sources to load.")
    embedded: bool = Field(default=True, description="Include the shipped mini benchmark (generated from seeded "
                                                     "data), unless `sources` lists an embedded source itself.")
    embedded_seed: int = Field(default=0, description="Seed of the embedded benchmark's data and questions.")
    spider_roots: list[str] = Field(
        default=[], description="Spider-format folders (dev.json and/or train_spider.json, tables.json, database/); "
                                "a shorthand for spider sources.")
    force: bool = Field(default=False, description="Reload even when a stored version was made from the same "
                        "config, code and source files (found by the sha256 of their content; reused otherwise).")


@dg.asset(
    code_version="3",
    group_name="data",
    kinds={"sqlite", "json"},
    description="Every configured benchmark (embedded, Spider, BIRD, SynSQL, JSONL) in the common example "
                "record, with its SQLite databases, schemas, rejects (exact duplicates too), counts and mix weights.",
)
def raw_benchmarks(context: dg.AssetExecutionContext, config: RawBenchmarksConfig,
                   io_manager: dg.ResourceParam[DirectoryIOManager]) -> dg.Output:
    specs = resolve_sources([source.model_dump() for source in config.sources], embedded=config.embedded,
                            embedded_seed=config.embedded_seed, spider_roots=config.spider_roots)
    files = hash_files([p for spec in specs for p in (spec.path, getattr(spec, "database_dir", "")) if p])
    digest = input_hash(context, io_manager, config, upstream=[], sources=files)
    if reused := reuse_stored(context, io_manager, digest, config.force):
        return reused
    out = scratch_dir(context)
    work = out / "_sources"
    loaded = [load_source(spec, work / str(i)) for i, spec in enumerate(specs)]
    stats = write_raw_benchmarks(loaded, out)
    shutil.rmtree(work, ignore_errors=True)  # its databases were copied into `out`
    context.log.info(f"raw_benchmarks: {stats['kept']} kept, {stats['rejected']} rejected of {stats['input']}")
    preview = list(islice(read_jsonl(out / "examples.jsonl"), 5))  # the file may hold millions
    context.add_output_metadata({
        "input": stats["input"],
        "kept": stats["kept"],
        "rejected": stats["rejected"],
        "skipped_max_samples": stats["skipped_max_samples"],
        "databases": stats["databases"],
        "rejects_by_reason": counts_table(stats["rejects_by_reason"]),
        "weights": counts_table({name: b["weight"] for name, b in stats["benchmarks"].items()}, "benchmark", "weight"),
        "preview": preview_table(preview, ["id", "db_id", "question", "gold_sql"]),
        "seconds": stats["seconds"],
    })
    return computed(out, digest)
