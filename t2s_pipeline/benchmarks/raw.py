"""The raw_benchmarks artifact: every loaded benchmark in one directory.

    examples.jsonl            kept examples of all benchmarks
    databases/<db_id>.sqlite  each database once
    schemas.json              db_id -> schema dict
    rejects.jsonl             what was not kept, with a reason code (`duplicate`: the same db_id,
                              question and SQL as an earlier record, whose id the detail names;
                              the first one is kept)
    stats.json                counts that reconcile: input = kept + rejected; per benchmark its
                              weight (for a later training mix) and `skipped_max_samples` (records
                              past a source's max_samples: left out of the set, so not input)

Records are written as the loaders produce them, so a streaming source of millions of records
(SynSQL) passes through in bounded memory.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import time
from collections import Counter
from pathlib import Path

from t2s_pipeline.benchmarks.spider import LoadedBenchmark
from t2s_pipeline.records import make_reject, read_json, write_json

STAGE = "raw_benchmarks"


def write_raw_benchmarks(loaded: list[LoadedBenchmark], out_dir: str | Path) -> dict:
    """Write the artifact into out_dir and return its stats."""
    start = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # stats.json, written last, marks a complete artifact: an older one must not vouch for a failed rewrite.
    (out_dir / "stats.json").unlink(missing_ok=True)
    counts = [{"kept": 0, "rejected": 0, "splits": Counter()} for _ in loaded]
    reasons: Counter = Counter()
    writers: dict[str, int] = {}  # "<benchmark>/<split>" -> the load whose ids those are
    first_ids: dict[int, str] = {}  # hash of (db_id, question, SQL) -> the id that came first
    with open(out_dir / "examples.jsonl", "w", encoding="utf-8") as examples, \
            open(out_dir / "rejects.jsonl", "w", encoding="utf-8") as rejects:
        for i, bench in enumerate(loaded):
            for kind, record in bench.records():
                _claim_ids(writers, record["id"], i)
                if kind == "example" and (first := _first_with_same_text(first_ids, record)):
                    kind, record = "reject", make_reject(record["id"], STAGE, "duplicate",
                                                         f"same db_id, question and SQL as {first}")
                if kind == "example":
                    examples.write(json.dumps(record, ensure_ascii=False) + "\n")
                    counts[i]["kept"] += 1
                    counts[i]["splits"][record["split"]] += 1
                else:
                    rejects.write(json.dumps(record, ensure_ascii=False) + "\n")
                    counts[i]["rejected"] += 1
                    reasons[record["reason"]] += 1

    # Streaming loads know their databases only now, after their records went through.
    databases = _collect_databases(loaded)
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

    kept = sum(c["kept"] for c in counts)
    rejected = sum(c["rejected"] for c in counts)
    stats = {
        "input": sum(b.input_count for b in loaded),
        "kept": kept,
        "rejected": rejected,
        "skipped_max_samples": sum(b.skipped_max_samples for b in loaded),
        "benchmarks": _benchmark_stats(loaded, counts),
        "rejects_by_reason": dict(reasons),
        "databases": len(databases),
        # A streamed load's time is spent inside this function, so only the others' is added.
        "seconds": round(sum(b.seconds for b in loaded if b.stream is None) + time.monotonic() - start, 3),
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


def _claim_ids(writers: dict[str, int], record_id: str, load: int) -> None:
    """Refuse ids that a second load would repeat.

    A load numbers each split's records from 0 (`<benchmark>/<split>/<n>`), so its own ids are unique
    and two loads clash exactly when both write the same benchmark and split. Checking that pair keeps
    memory flat, where a set of every id would not (millions of ids).
    """
    benchmark_split = record_id.rsplit("/", 1)[0]
    if writers.setdefault(benchmark_split, load) != load:
        raise ValueError(f"example ids occur twice: {benchmark_split}/... come from two sources "
                         "(same benchmark name loaded twice? give one source another name)")


def _first_with_same_text(first_ids: dict[int, str], example: dict) -> str | None:
    """The id of an earlier example with this one's db_id, question and SQL; None records this one as first.

    Python's 64-bit hash of the triple, not the texts, is held: about 150 bytes a record over millions
    of records, and 1 us to compute where a blake2b digest took 10. Two different triples share a hash
    with a chance of about n^2 / 2^65 (2e-7 at 2.5 million records).
    """
    digest = hash((example["db_id"], example["question"], example["gold_sql"]))
    first = first_ids.setdefault(digest, example["id"])
    return None if first == example["id"] else first


def _collect_databases(loaded: list[LoadedBenchmark]) -> dict[str, Path]:
    """db_id -> source file; one db_id brought twice must be the same file contents."""
    databases: dict[str, Path] = {}
    for bench in loaded:
        for db_id, path in bench.databases.items():
            first = databases.setdefault(db_id, path)
            if first != path and not filecmp.cmp(first, path, shallow=False):
                raise ValueError(f"database {db_id!r} differs between sources: {first} and {path}")
    return databases


def _benchmark_stats(loaded: list[LoadedBenchmark], counts: list[dict]) -> dict:
    """Counts and weight per benchmark name (one name may come in several loads, e.g. one per split)."""
    stats: dict[str, dict] = {}
    for bench, count in zip(loaded, counts):
        entry = stats.setdefault(bench.benchmark, {
            "input": 0, "kept": 0, "rejected": 0, "splits": Counter(),
            "skipped_max_samples": 0, "weight": bench.weight,
        })
        if entry["weight"] != bench.weight:
            raise ValueError(f"benchmark {bench.benchmark!r} is loaded with two weights: "
                             f"{entry['weight']} and {bench.weight}")
        entry["input"] += bench.input_count
        entry["kept"] += count["kept"]
        entry["rejected"] += count["rejected"]
        entry["splits"].update(count["splits"])
        entry["skipped_max_samples"] += bench.skipped_max_samples
    return {name: {**entry, "splits": dict(entry["splits"])} for name, entry in stats.items()}
