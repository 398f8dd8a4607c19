"""Load a generic JSON-lines text-to-SQL file (one record per line), with configurable field names.

The path is one `.jsonl` file (its records form the split `train`) or a folder of `<split>.jsonl`
files. Each field is read from the first of its names that the record has; `fields` replaces the
names of a field with the one given, e.g. {"sql": "answer"} for b-mc2/sql-create-context:

    question    question, sql_prompt          (required)
    sql         query, sql                    (required)
    context     context, sql_context          CREATE TABLE (and INSERT) text of the schema
    db_id       db_id                         a database under `database_dir`, when there is one
    evidence, difficulty, cot                 optional, same names

The database: `database_dir/<db_id>/<db_id>.sqlite` where the record names one that exists; else one
built from the context, by executing it in a fresh SQLite file (only CREATE TABLE and INSERT
statements) so that later stages can execute the gold SQL. Records with the same context share that
database, its db_id `<benchmark>_<hash of the context>`. Rejects say the line number in `detail`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from pathlib import Path

from t2s_pipeline.benchmarks.spider import STAGE, DatabaseFiles, LoadedBenchmark, checked_example
from t2s_pipeline.records import example_id, make_reject
from t2s_pipeline.sql.schema import read_sqlite_schema

DEFAULT_FIELDS = {
    "question": ("question", "sql_prompt"),
    "sql": ("query", "sql"),
    "context": ("context", "sql_context"),
    "db_id": ("db_id",),
    "evidence": ("evidence",),
    "difficulty": ("difficulty",),
    "cot": ("cot",),
}
# After optional leading comments, the only statements a context may run.
_ALLOWED_STATEMENT = re.compile(r"^(\s*(--[^\n]*(\n|$)|/\*.*?\*/))*\s*(CREATE\s+TABLE|INSERT)\b", re.I | re.S)
_ONLY_COMMENTS = re.compile(r"^(\s*(--[^\n]*(\n|$)|/\*.*?\*/))*[\s;]*$", re.S)
# SQLite virtual-machine steps a context may take: CREATE TABLE ... AS SELECT and INSERT ... SELECT can loop.
_MAX_CONTEXT_STEPS = 10_000_000


def load_jsonl(
    path: str | Path,
    work_dir: str | Path,
    benchmark: str = "jsonl",
    splits: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
    database_dir: str | Path | None = None,
    max_samples: int | None = None,
) -> LoadedBenchmark:
    """A streaming LoadedBenchmark over the file(s); databases built from contexts go to work_dir.

    splits: source split (the file stem; `train` for a single file) -> the split name in our ids;
    by default every split under its own name. max_samples keeps the first N usable examples.
    """
    files = _split_files(Path(path), splits)
    unknown = sorted(set(fields or {}) - set(DEFAULT_FIELDS))
    if unknown:
        raise ValueError(f"unknown JSONL field {unknown}: the fields are {', '.join(DEFAULT_FIELDS)}")
    names = {**DEFAULT_FIELDS, **{k: (v,) for k, v in (fields or {}).items()}}
    loaded = LoadedBenchmark(benchmark=benchmark)
    existing = DatabaseFiles(database_dir) if database_dir else None
    loaded.stream = _records(loaded, files, names, _ContextDatabases(Path(work_dir), benchmark), existing, max_samples)
    return loaded


def _split_files(path: Path, splits: dict[str, str] | None) -> dict[str, Path]:
    """Our split name -> its file."""
    if path.is_file():
        found = {"train": path}
    elif path.is_dir():
        found = {p.stem: p for p in sorted(path.glob("*.jsonl"))}
        if not found:
            raise FileNotFoundError(f"no .jsonl file in {path}")
    else:
        raise FileNotFoundError(f"JSONL file or folder not found: {path}")
    if splits is None:
        return found
    missing = sorted(set(splits) - set(found))
    if missing:
        raise FileNotFoundError(f"no JSONL split {missing} at {path}: found {', '.join(found)}")
    return {ours: found[theirs] for theirs, ours in splits.items()}


def _records(loaded, files, names, built: _ContextDatabases, existing: DatabaseFiles | None, max_samples):
    start = time.monotonic()
    kept = 0
    databases: dict[str, Path] = {}
    try:
        for split, path in files.items():
            with open(path, encoding="utf-8") as f:
                lines = ((no, line) for no, line in enumerate(f, start=1) if line.strip())  # blank: no record
                for n, (line_no, line) in enumerate(lines):
                    if max_samples is not None and kept >= max_samples:
                        loaded.skipped_max_samples += 1
                        continue
                    loaded.input_count += 1
                    example, reject = _to_example(line, loaded.benchmark, split, n, names, built, existing)
                    if reject:
                        reason, detail = reject
                        record_id = example_id(loaded.benchmark, split, n)
                        yield "reject", make_reject(record_id, STAGE, reason, f"line {line_no}: {detail}")
                        continue
                    kept += 1
                    source = existing if existing and existing.exists(example["db_id"]) else built.files
                    databases.setdefault(example["db_id"], source.path(example["db_id"]))
                    yield "example", example
    finally:
        built.files.close()
        if existing:
            existing.close()
    loaded.databases = dict(sorted(databases.items()))
    loaded.schemas = {db_id: read_sqlite_schema(file, db_id) for db_id, file in loaded.databases.items()}
    loaded.seconds = time.monotonic() - start


def _to_example(line: str, benchmark, split, n, names, built: _ContextDatabases, existing: DatabaseFiles | None):
    """(example, None) when the line is a usable record, else (None, (reason, detail))."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return None, ("bad_record", f"invalid JSON: {e}")
    if not isinstance(record, dict):
        return None, ("bad_record", f"expected a JSON object, got {type(record).__name__}")
    value = {field: _first(record, candidates) for field, candidates in names.items()}
    db_id, context = value["db_id"], value["context"]
    if existing and isinstance(db_id, str) and existing.exists(db_id.strip()):
        databases = existing
    elif isinstance(context, str) and context.strip():
        db_id, error = built.database_for(context)
        if error:
            return None, ("bad_context", error)
        databases = built.files
    elif db_id:
        where = existing.path(str(db_id)) if existing else "no database_dir configured"
        return None, ("missing_database", f"database for db_id {db_id!r} not found ({where}) and no context")
    else:
        return None, ("bad_record", f"missing or empty field: {'/'.join(names['context'])} (or a db_id)")
    return checked_example(
        databases, benchmark, split, n,
        question=value["question"], gold_sql=value["sql"], db_id=db_id,
        evidence=value["evidence"], difficulty=value["difficulty"], cot=value["cot"],
        sql_field="/".join(names["sql"]),
    )


def _first(record: dict, candidates: tuple[str, ...]):
    return next((record[name] for name in candidates if name in record), None)


class _ContextDatabases:
    """SQLite databases built from CREATE TABLE contexts, one per distinct context, under work_dir."""

    def __init__(self, work_dir: Path, benchmark: str):
        self.files = DatabaseFiles(work_dir)
        self.benchmark = benchmark
        self._built: dict[str, tuple[str, str | None]] = {}  # context hash -> (db_id, error)

    def database_for(self, context: str) -> tuple[str, str | None]:
        """(db_id, None) once the context's database exists, else (db_id, why it cannot be built)."""
        digest = hashlib.sha256(context.strip().encode("utf-8")).hexdigest()[:16]
        if digest not in self._built:
            db_id = f"{self.benchmark}_{digest}"
            self._built[digest] = (db_id, build_database(context, self.files.path(db_id)))
        return self._built[digest]


def build_database(context: str, db_file: Path) -> str | None:
    """Execute the context's CREATE TABLE and INSERT statements in a fresh SQLite file.

    Returns None, or why the context cannot make a database (the file is then removed).
    """
    statements = split_statements(context)
    if not statements:
        return "no SQL statement in the context"
    for statement in statements:
        if not _ALLOWED_STATEMENT.match(statement):
            return f"only CREATE TABLE and INSERT statements may build a database: {statement[:120]}"
    db_file.parent.mkdir(parents=True, exist_ok=True)
    db_file.unlink(missing_ok=True)
    steps_left = [_MAX_CONTEXT_STEPS // 1000]
    error = None
    conn = sqlite3.connect(db_file)
    try:
        conn.set_progress_handler(lambda: _count_down(steps_left), 1000)
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    except sqlite3.Error as e:
        why = "more work than a schema needs" if steps_left[0] < 0 else str(e)
        error = f"{statement[:120]}: {why}"
    finally:
        conn.close()
    if error:
        db_file.unlink(missing_ok=True)
    return error


def _count_down(steps_left: list[int]) -> int:
    """SQLite progress handler: non-zero (interrupt) once the step budget is spent."""
    steps_left[0] -= 1
    return steps_left[0] < 0


def split_statements(text: str) -> list[str]:
    """The SQL statements of text; a `;` inside a string or comment does not end one."""
    statements, current = [], ""
    pieces = text.split(";")
    for i, piece in enumerate(pieces):
        current += piece if i == len(pieces) - 1 else piece + ";"
        if sqlite3.complete_statement(current) or i == len(pieces) - 1:
            if not _ONLY_COMMENTS.match(current):
                statements.append(current.strip())
            current = ""
    return statements
