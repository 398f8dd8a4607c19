"""Load a Spider-format benchmark folder into common example records.

The folder holds split files (JSON arrays of {db_id, question, query}), `tables.json` and
`database/<db_id>/<db_id>.sqlite`. BIRD uses the same shape with `SQL`, `evidence` and
`difficulty`, so it loads here too (bird.py names its files and folders).

Every record of a split file ends up kept or rejected (stage `raw_benchmarks`), never dropped:
one broken record is one reject and the rest still load.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot

from t2s_pipeline.benchmarks.json_stream import iter_json_records
from t2s_pipeline.records import example_id, make_example, make_reject
from t2s_pipeline.sql.schema import read_sqlite_schema, schema_from_spider_tables

STAGE = "raw_benchmarks"
DEFAULT_SPLIT_FILES = {"train": "train_spider.json", "dev": "dev.json"}
# db_id becomes a file name downstream; a plain name keeps it inside its folder.
_PLAIN_DB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass
class LoadedBenchmark:
    """One loaded source.

    A small source fills `examples` and `rejects`. A streaming one (SynSQL, JSONL) sets `stream`
    instead and fills `input_count`, `databases` and `schemas` while it is consumed, so millions of
    records never sit in memory at once. Read the records through `records()`, once.
    """

    benchmark: str
    examples: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    databases: dict[str, Path] = field(default_factory=dict)  # db_id -> sqlite file
    schemas: dict[str, dict] = field(default_factory=dict)  # db_id -> schema dict
    input_count: int = 0
    seconds: float = 0.0
    weight: float = 1.0  # this source's share in a later training mix; recorded in stats.json
    # Records after the first `max_samples` kept examples: left out of the set, so not input records.
    skipped_max_samples: int = 0
    stream: Iterator[tuple[str, dict]] | None = None

    def records(self) -> Iterator[tuple[str, dict]]:
        """("example", record) and ("reject", record) pairs."""
        if self.stream is not None:
            yield from self.stream
            return
        for example in self.examples:
            yield "example", example
        for reject in self.rejects:
            yield "reject", reject


def load_spider(
    root: str | Path,
    benchmark: str = "spider",
    split_files: dict[str, str] | None = None,
    tables_file: str = "tables.json",
    database_dir: str = "database",
    max_samples: int | None = None,
) -> LoadedBenchmark:
    """Load the split files that exist under `root`; databases and schemas only for the db_ids kept.

    max_samples keeps the first N usable examples in file order (splits in the order given).
    """
    start = time.monotonic()
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark folder not found: {root}")
    split_files = split_files or DEFAULT_SPLIT_FILES
    present = {split: root / name for split, name in split_files.items() if (root / name).is_file()}
    if not present:
        raise FileNotFoundError(f"no split file in {root}: looked for {', '.join(split_files.values())}")

    loaded = LoadedBenchmark(benchmark=benchmark)
    databases = DatabaseFiles(root / database_dir)
    try:
        for split, path in present.items():
            for n, (record, error) in enumerate(iter_json_records(path)):
                if max_samples is not None and len(loaded.examples) >= max_samples:
                    loaded.skipped_max_samples += 1
                    continue
                loaded.input_count += 1
                record_id = example_id(benchmark, split, n)
                if error:
                    loaded.rejects.append(make_reject(record_id, STAGE, "bad_record", error))
                    continue
                example, reject = _to_example(record, benchmark, split, n, databases)
                if reject:
                    loaded.rejects.append(make_reject(record_id, STAGE, *reject))
                else:
                    loaded.examples.append(example)
    finally:
        databases.close()

    db_ids = {e["db_id"] for e in loaded.examples}
    loaded.databases, loaded.schemas = databases_and_schemas(db_ids, databases, root / tables_file)
    loaded.seconds = time.monotonic() - start
    return loaded


def _to_example(record, benchmark: str, split: str, n: int, databases: DatabaseFiles):
    """(example, None) when the record is usable, else (None, (reason, detail))."""
    if not isinstance(record, dict):
        return None, ("bad_record", f"expected a JSON object, got {type(record).__name__}")
    return checked_example(
        databases, benchmark, split, n,
        question=record.get("question"), gold_sql=record.get("query", record.get("SQL")), db_id=record.get("db_id"),
        evidence=record.get("evidence"), difficulty=record.get("difficulty", record.get("hardness")),
        cot=record.get("cot"), sql_field="query" if "query" in record else "SQL" if "SQL" in record else "query/SQL",
    )


def checked_example(databases: DatabaseFiles, benchmark: str, split: str, n: int, *, question, gold_sql, db_id,
                    evidence=None, difficulty=None, cot=None, sql_field: str = "query"):
    """The checks every loader makes: (example, None) when usable, else (None, (reason, detail)).

    Text fields present and non-empty, a plain db_id whose database file exists, gold SQL that parses.
    """
    for name, value in (("question", question), (sql_field, gold_sql), ("db_id", db_id)):
        if not isinstance(value, str) or not value.strip():
            return None, ("bad_record", f"missing or empty field: {name}")
    for name, value in (("evidence", evidence), ("cot", cot)):
        if value is not None and not isinstance(value, str):
            return None, ("bad_record", f"field {name} is not text: {type(value).__name__}")
    db_id = db_id.strip()
    if not _PLAIN_DB_ID.match(db_id):
        return None, ("bad_record", f"db_id is not a plain name: {db_id!r}")
    if not databases.exists(db_id):
        return None, ("missing_database", f"database file not found: {databases.path(db_id)}")
    parse_error = databases.gold_parse_error(gold_sql, db_id)
    if parse_error:
        return None, ("gold_parse_error", parse_error)
    example = make_example(
        benchmark, split, n, db_id, question, gold_sql,
        evidence=evidence or "",
        difficulty=str(difficulty) if difficulty is not None else None,
        cot=cot,
    )
    return example, None


class DatabaseFiles:
    """The SQLite files of a source, `<root>/<db_id>/<db_id>.sqlite`, and the per-record checks on them.

    Whether a file exists is looked up once per db_id, and read-only connections to the most recently
    used databases stay open: a large source repeats a few thousand databases over millions of records.
    """

    KEEP_OPEN = 8

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._paths: dict[str, Path] = {}  # pathlib's joins cost more than the SQL check per record
        self._exists: dict[str, bool] = {}
        self._open: OrderedDict[str, sqlite3.Connection] = OrderedDict()

    def path(self, db_id: str) -> Path:
        if db_id not in self._paths:
            self._paths[db_id] = self.root / db_id / f"{db_id}.sqlite"
        return self._paths[db_id]

    def exists(self, db_id: str) -> bool:
        if db_id not in self._exists:
            self._exists[db_id] = self.path(db_id).is_file()
        return self._exists[db_id]

    def gold_parse_error(self, sql: str, db_id: str) -> str | None:
        path = self.path(db_id)
        conn = self._open.pop(db_id, None) or _connect_readonly(path)
        self._open[db_id] = conn  # most recently used last
        if len(self._open) > self.KEEP_OPEN:
            self._open.popitem(last=False)[1].close()
        return gold_parse_error(sql, path, conn)

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


def gold_parse_error(sql: str, db_file: Path, conn: sqlite3.Connection | None = None) -> str | None:
    """The first line of the parse error, or None when the query parses.

    SQLite compiles the query first (`EXPLAIN` compiles without running, in tens of microseconds where
    sqlglot takes about a millisecond: that decides the load time of a million-record source). Where
    SQLite reports a syntax error, sqlglot has the last word, so a query either of them reads is kept.
    Only a syntax error rejects: "no such table" and the like are the golden stage's call.
    """
    own_conn = conn is None
    conn = conn or _connect_readonly(db_file)
    try:
        conn.execute("EXPLAIN " + sql.strip().rstrip(";"))
        return None
    except sqlite3.ProgrammingError:  # more than one statement: sqlglot decides
        pass
    except sqlite3.Error as e:
        message = str(e)
        if not any(kind in message for kind in ("syntax error", "incomplete input", "unrecognized token")):
            return None
    finally:
        if own_conn:
            conn.close()
    try:
        sqlglot.parse_one(sql, read="sqlite")
        return None
    except sqlglot.errors.SqlglotError as e:
        return (str(e).splitlines() or [type(e).__name__])[0]


def _connect_readonly(db_file: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(db_file).resolve()}?mode=ro", uri=True)


def databases_and_schemas(db_ids, databases: DatabaseFiles, tables_file: Path) -> tuple[dict, dict]:
    """db_id -> file and db_id -> schema for the db_ids kept: tables.json's entry, else SQLite's own.

    tables.json is read record by record and only the entries asked for are kept (SynSQL's holds
    thousands of databases).
    """
    db_ids = sorted(db_ids)
    wanted = set(db_ids)
    entries = {}
    if tables_file.is_file():
        for entry, _ in iter_json_records(tables_file):
            if isinstance(entry, dict) and entry.get("db_id") in wanted:
                entries.setdefault(entry["db_id"], entry)
    files = {db_id: databases.path(db_id) for db_id in db_ids}
    return files, {db_id: _schema(db_id, entries.get(db_id), files[db_id]) for db_id in db_ids}


def _schema(db_id: str, tables_entry: dict | None, db_file: Path) -> dict:
    """The tables.json schema when there is a usable entry, else SQLite's own."""
    if tables_entry is not None:
        try:
            return schema_from_spider_tables(tables_entry)
        except (KeyError, IndexError, TypeError):
            pass
    return read_sqlite_schema(db_file, db_id)
