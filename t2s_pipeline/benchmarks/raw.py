"""The raw_benchmarks artifact: every loaded benchmark in one directory.

    examples.jsonl            kept examples of all benchmarks
    databases/<db_id>.sqlite  each database once
    schemas.json              db_id -> schema dict
    rejects.jsonl             what was not kept, with a reason code
    stats.json                counts that reconcile: input = kept + rejected
"""

from __future__ import annotations

import filecmp
import shutil
import time
from collections import Counter
from pathlib import Path

from t2s_pipeline.benchmarks.spider import LoadedBenchmark
from t2s_pipeline.records import read_json, write_json, write_jsonl


def write_raw_benchmarks(loaded: list[LoadedBenchmark], out_dir: str | Path) -> dict:
    """Write the artifact into out_dir and return its stats."""
    start = time.monotonic()
    out_dir = Path(out_dir)
    databases = _collect_databases(loaded)
    _check_unique_ids(loaded)

    out_dir.mkdir(parents=True, exist_ok=True)
    db_dir = out_dir / "databases"
    if db_dir.exists():  # a re-run must not leave databases of an older source set behind
        shutil.rmtree(db_dir)
    db_dir.mkdir()
    for db_id, source in databases.items():
        shutil.copyfile(source, db_dir / f"{db_id}.sqlite")  # copyfile: not the read-only mode bits

    schemas: dict[str, dict] = {}
    for bench in loaded:
        for db_id, schema in bench.schemas.items():
            schemas.setdefault(db_id, schema)
    write_json(out_dir / "schemas.json", schemas)
    kept = write_jsonl(out_dir / "examples.jsonl", (e for b in loaded for e in b.examples))
    rejected = write_jsonl(out_dir / "rejects.jsonl", (r for b in loaded for r in b.rejects))

    stats = {
        "input": sum(b.input_count for b in loaded),
        "kept": kept,
        "rejected": rejected,
        "benchmarks": _benchmark_stats(loaded),
        "rejects_by_reason": dict(Counter(r["reason"] for b in loaded for r in b.rejects)),
        "databases": len(databases),
        "seconds": round(sum(b.seconds for b in loaded) + time.monotonic() - start, 3),
    }
    if stats["input"] != kept + rejected:
        raise AssertionError(f"counts do not reconcile: input {stats['input']} != kept {kept} + rejected {rejected}")
    write_json(out_dir / "stats.json", stats)
    return stats


def read_schemas(raw_dir: str | Path) -> dict[str, dict]:
    return read_json(Path(raw_dir) / "schemas.json")


def database_path(raw_dir: str | Path, db_id: str) -> Path:
    path = Path(raw_dir) / "databases" / f"{db_id}.sqlite"
    if not path.is_file():
        raise FileNotFoundError(f"database {db_id!r} not in {raw_dir}: {path}")
    return path


def _collect_databases(loaded: list[LoadedBenchmark]) -> dict[str, Path]:
    """db_id -> source file; one db_id brought twice must be the same file contents."""
    databases: dict[str, Path] = {}
    for bench in loaded:
        for db_id, path in bench.databases.items():
            first = databases.setdefault(db_id, path)
            if first != path and not filecmp.cmp(first, path, shallow=False):
                raise ValueError(f"database {db_id!r} differs between sources: {first} and {path}")
    return databases


def _check_unique_ids(loaded: list[LoadedBenchmark]) -> None:
    counts = Counter(e["id"] for b in loaded for e in b.examples)
    duplicated = [i for i, c in counts.items() if c > 1]
    if duplicated:
        raise ValueError(f"example ids occur twice (same benchmark name loaded twice?): {duplicated[:5]}")


def _benchmark_stats(loaded: list[LoadedBenchmark]) -> dict:
    """Counts per benchmark name (one name may come in several loads, e.g. one per split)."""
    stats: dict[str, dict] = {}
    for bench in loaded:
        entry = stats.setdefault(bench.benchmark, {"input": 0, "kept": 0, "rejected": 0, "splits": Counter()})
        entry["input"] += bench.input_count
        entry["kept"] += len(bench.examples)
        entry["rejected"] += len(bench.rejects)
        entry["splits"].update(e["split"] for e in bench.examples)
    return {name: {**entry, "splits": dict(entry["splits"])} for name, entry in stats.items()}
