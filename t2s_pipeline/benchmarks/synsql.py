"""Load SynSQL-2.5M (OmniSQL's synthetic training set) as a stream, in bounded memory.

    data.json                          a JSON array of 2.5 million records (several GB):
                                       {db_id, question, sql, external_knowledge, cot, sql_complexity, question_style}
    tables.json                        Spider tables format, one entry per database
    databases/<db_id>/<db_id>.sqlite

external_knowledge becomes the example's evidence, sql_complexity its difficulty, cot its chain of
thought; question_style has no place in the common record. data.json is read record by record and
each example handed on as it is made (LoadedBenchmark.stream), so write_raw_benchmarks writes
examples.jsonl while the file is read; only the set of db_ids kept grows with the file.
"""

from __future__ import annotations

import time
from pathlib import Path

from t2s_pipeline.benchmarks.json_stream import iter_json_records
from t2s_pipeline.benchmarks.spider import STAGE, DatabaseFiles, LoadedBenchmark, checked_example, databases_and_schemas
from t2s_pipeline.records import example_id, make_reject

DATA_FILE = "data.json"
TABLES_FILE = "tables.json"
DATABASE_DIR = "databases"


def load_synsql(
    root: str | Path,
    benchmark: str = "synsql",
    split: str = "train",
    cot_only: bool = False,
    max_samples: int | None = None,
) -> LoadedBenchmark:
    """A streaming LoadedBenchmark over root/data.json; nothing is read until its records are.

    cot_only: keep only records with a non-empty `cot`; the others are rejected as `no_cot`.
    max_samples keeps the first N usable examples in file order; the records after them are only
    counted (`skipped_max_samples`).
    """
    root = Path(root)
    if not (root / DATA_FILE).is_file():
        raise FileNotFoundError(f"SynSQL data file not found: {root / DATA_FILE}")
    loaded = LoadedBenchmark(benchmark=benchmark)
    loaded.stream = _records(loaded, root, split, cot_only, max_samples)
    return loaded


def _records(loaded: LoadedBenchmark, root: Path, split: str, cot_only: bool, max_samples: int | None):
    start = time.monotonic()
    databases = DatabaseFiles(root / DATABASE_DIR)
    kept = 0
    kept_db_ids: set[str] = set()
    try:
        for n, (record, error) in enumerate(iter_json_records(root / DATA_FILE)):
            if max_samples is not None and kept >= max_samples:
                loaded.skipped_max_samples += 1
                continue
            loaded.input_count += 1
            if error:
                example, reject = None, ("bad_record", error)
            else:
                example, reject = _to_example(record, loaded.benchmark, split, n, databases, cot_only)
            if reject:
                yield "reject", make_reject(example_id(loaded.benchmark, split, n), STAGE, *reject)
            else:
                kept += 1
                kept_db_ids.add(example["db_id"])
                yield "example", example
    finally:
        databases.close()
    loaded.databases, loaded.schemas = databases_and_schemas(kept_db_ids, databases, root / TABLES_FILE)
    loaded.seconds = time.monotonic() - start


def _to_example(record, benchmark: str, split: str, n: int, databases: DatabaseFiles, cot_only: bool):
    """(example, None) when the record is usable, else (None, (reason, detail))."""
    if not isinstance(record, dict):
        return None, ("bad_record", f"expected a JSON object, got {type(record).__name__}")
    cot = record.get("cot")
    # Checked first: a record the option drops anyway needs no database or SQL check.
    if cot_only and not (isinstance(cot, str) and cot.strip()):
        return None, ("no_cot", "no chain of thought (cot_only)")
    return checked_example(
        databases, benchmark, split, n,
        question=record.get("question"), gold_sql=record.get("sql"), db_id=record.get("db_id"),
        evidence=record.get("external_knowledge"), difficulty=record.get("sql_complexity"), cot=cot,
        sql_field="sql",
    )
