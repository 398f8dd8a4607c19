"""Load a Spider-format benchmark folder into common example records.

The folder holds split files (JSON arrays of {db_id, question, query}), `tables.json` and
`database/<db_id>/<db_id>.sqlite`. BIRD uses the same shape with `SQL`, `evidence` and
`difficulty`, so it loads here too (pass its file and folder names).

Every record of a split file ends up kept or rejected (stage `raw_benchmarks`), never dropped:
one broken record is one reject and the rest still load.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot

from t2s_pipeline.records import example_id, make_example, make_reject
from t2s_pipeline.sql.schema import read_sqlite_schema, schema_from_spider_tables

STAGE = "raw_benchmarks"
DEFAULT_SPLIT_FILES = {"train": "train_spider.json", "dev": "dev.json"}
# db_id becomes a file name downstream; a plain name keeps it inside its folder.
_PLAIN_DB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass
class LoadedBenchmark:
    benchmark: str
    examples: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    databases: dict[str, Path] = field(default_factory=dict)  # db_id -> sqlite file
    schemas: dict[str, dict] = field(default_factory=dict)  # db_id -> schema dict
    input_count: int = 0
    seconds: float = 0.0


def load_spider(
    root: str | Path,
    benchmark: str = "spider",
    split_files: dict[str, str] | None = None,
    tables_file: str = "tables.json",
    database_dir: str = "database",
) -> LoadedBenchmark:
    """Load the split files that exist under `root`; databases and schemas only for the db_ids kept."""
    start = time.monotonic()
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark folder not found: {root}")
    split_files = split_files or DEFAULT_SPLIT_FILES
    present = {split: root / name for split, name in split_files.items() if (root / name).is_file()}
    if not present:
        raise FileNotFoundError(f"no split file in {root}: looked for {', '.join(split_files.values())}")

    loaded = LoadedBenchmark(benchmark=benchmark)
    for split, path in present.items():
        for n, (record, error) in enumerate(_read_records(path)):
            loaded.input_count += 1
            record_id = example_id(benchmark, split, n)
            if error:
                loaded.rejects.append(make_reject(record_id, STAGE, "bad_record", error))
                continue
            example, reject = _to_example(record, benchmark, split, n, root / database_dir)
            if reject:
                loaded.rejects.append(make_reject(record_id, STAGE, *reject))
            else:
                loaded.examples.append(example)

    db_ids = sorted({e["db_id"] for e in loaded.examples})
    loaded.databases = {db_id: _database_file(root / database_dir, db_id) for db_id in db_ids}
    tables = _read_tables(root / tables_file)
    loaded.schemas = {db_id: _schema(db_id, tables.get(db_id), loaded.databases[db_id]) for db_id in db_ids}
    loaded.seconds = time.monotonic() - start
    return loaded


def _to_example(record, benchmark: str, split: str, n: int, database_root: Path):
    """(example, None) when the record is usable, else (None, (reason, detail))."""
    if not isinstance(record, dict):
        return None, ("bad_record", f"expected a JSON object, got {type(record).__name__}")
    gold = record.get("query", record.get("SQL"))
    for name, value in (("question", record.get("question")), ("query", gold), ("db_id", record.get("db_id"))):
        if not isinstance(value, str) or not value.strip():
            return None, ("bad_record", f"missing or empty field: {name}")
    db_id = record["db_id"].strip()
    if not _PLAIN_DB_ID.match(db_id):
        return None, ("bad_record", f"db_id is not a plain name: {db_id!r}")
    db_file = _database_file(database_root, db_id)
    if not db_file.is_file():
        return None, ("missing_database", f"database file not found: {db_file}")
    parse_error = gold_parse_error(gold, db_file)
    if parse_error:
        return None, ("gold_parse_error", parse_error)
    difficulty = record.get("difficulty", record.get("hardness"))
    example = make_example(
        benchmark, split, n, db_id, record["question"], gold,
        evidence=record.get("evidence") or "",
        difficulty=str(difficulty) if difficulty is not None else None,
        cot=record.get("cot"),
    )
    return example, None


def gold_parse_error(sql: str, db_file: Path) -> str | None:
    """The first line of the parse error, or None when the query parses.

    sqlglot is tried first; where it refuses, SQLite itself has the last word (`EXPLAIN` compiles
    without running), so a valid SQLite query that sqlglot does not know is not rejected.
    """
    try:
        sqlglot.parse_one(sql, read="sqlite")
        return None
    except sqlglot.errors.SqlglotError as e:
        sqlglot_error = (str(e).splitlines() or [type(e).__name__])[0]
    conn = sqlite3.connect(f"file:{db_file.resolve()}?mode=ro", uri=True)
    try:
        conn.execute("EXPLAIN " + sql.strip().rstrip(";"))
        return None
    except sqlite3.ProgrammingError:  # more than one statement
        return sqlglot_error
    except sqlite3.Error as e:
        # Only a syntax error rejects; "no such table" and the like are the golden stage's call.
        message = str(e)
        return sqlglot_error if "syntax error" in message or "incomplete input" in message else None
    finally:
        conn.close()


def _database_file(database_root: Path, db_id: str) -> Path:
    return database_root / db_id / f"{db_id}.sqlite"


def _read_tables(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))
    return {e["db_id"]: e for e in entries if isinstance(e, dict) and "db_id" in e}


def _schema(db_id: str, tables_entry: dict | None, db_file: Path) -> dict:
    """The tables.json schema when there is a usable entry, else SQLite's own."""
    if tables_entry is not None:
        try:
            return schema_from_spider_tables(tables_entry)
        except (KeyError, IndexError, TypeError):
            pass
    return read_sqlite_schema(db_file, db_id)


def _read_records(path: Path):
    """Yield (record, None) per array element, or (None, detail) for an element that is not JSON."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        yield from _recover_records(text)
        return
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
    for record in data:
        yield record, None


def _recover_records(text: str):
    """Decode the elements of a broken JSON array one by one, skipping over each broken one.

    Also reads JSON lines (no enclosing brackets), which is what the scan amounts to. Two broken
    records in a row are skipped together, as one reject.
    """
    decoder = json.JSONDecoder()
    pos = _skip(text, 0, _SPACE)
    if text.startswith("[", pos):
        pos += 1
    while True:
        pos = _skip(text, pos, _SPACE + ",")
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            record, end = decoder.raw_decode(text, pos)
            if not _ends_element(text, end):  # e.g. a stray `}` closed the record early
                raise json.JSONDecodeError("element continues", text, end)
            yield record, None
            pos = end
        except json.JSONDecodeError as e:
            yield None, f"malformed JSON at char {e.pos}"
            pos = _next_element_start(text, pos)


_SPACE = " \t\r\n"


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _next_element_start(text: str, pos: int) -> int:
    """The next `{` after pos that starts a whole array element, else the end of the text.

    A bracket count cannot be trusted inside a broken record (an unclosed quote swallows the rest),
    so each `{` is tried instead: it must follow `,`, `[` or `}` (not a key's `:`), decode, and be
    followed by the next element or the array's end, which rules out objects nested in a record.
    """
    decoder = json.JSONDecoder()
    i = text.find("{", pos + 1)
    while i != -1:
        j = i - 1
        while j >= 0 and text[j] in _SPACE:
            j -= 1
        if j < 0 or text[j] in ",[}":
            try:
                _, end = decoder.raw_decode(text, i)
                if _ends_element(text, end, strict=True):
                    return i
            except json.JSONDecodeError:
                pass
        i = text.find("{", i + 1)
    return len(text)


def _ends_element(text: str, end: int, strict: bool = False) -> bool:
    """Whether a whole element ends at `end`: the next element, or the array's end, follows.

    strict (resyncing inside a broken record): the array's `]` must also end the text, and the
    next element must be an object, so that an object nested in a record does not qualify.
    """
    after = _skip(text, end, _SPACE)
    if text.startswith(",", after):
        after = _skip(text, after + 1, _SPACE)
    if after == len(text):
        return True
    if text[after] == "]":
        return not strict or _skip(text, after + 1, _SPACE) == len(text)
    return text[after] == "{" or (not strict and text[after] == "[")
