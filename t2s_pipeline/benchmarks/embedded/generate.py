"""Write the embedded mini benchmark: a Spider-format folder generated from code.

    out_dir/database/<db_id>/<db_id>.sqlite   five small databases of different domains
    out_dir/train.json                        [{db_id, question, query, difficulty}, ...]
    out_dir/tables.json                       Spider schema entries read back from the files

Everything derives from `seed`, so the same seed gives byte-identical JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from pathlib import Path

from .context import Candidate, Context
from .domains import ALL_DOMAINS
from .joined import joined_candidates
from .schema import Domain
from .single_table import single_table_candidates

EXAMPLES_PER_DB = 400  # every answerable query (about 160 a database, 2-3 questions each): more distinct queries teach a tiny model to generalize
MIN_EXAMPLES = 1500


def write_embedded_benchmark(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    examples, tables = [], []
    for domain in ALL_DOMAINS:
        # One stream per domain: changing one domain leaves the others' data and questions alone.
        rng = random.Random(f"{seed}:{domain.db_id}")
        db_path = build_database(domain, root / "database" / domain.db_id, rng)
        examples += domain_examples(domain, db_path, rng)
        tables.append(spider_tables_entry(db_path, domain.db_id))
    assert len(examples) >= MIN_EXAMPLES, f"only {len(examples)} answerable examples"
    _write_json(root / "train.json", examples)
    _write_json(root / "tables.json", tables)
    return root


def build_database(domain: Domain, db_dir: Path, rng: random.Random) -> Path:
    """Create `<db_dir>/<db_id>.sqlite` from scratch (a rerun replaces it)."""
    shutil.rmtree(db_dir, ignore_errors=True)
    db_dir.mkdir(parents=True)
    db_path = db_dir / f"{domain.db_id}.sqlite"
    rows = domain.populate(rng)
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA foreign_keys = ON")  # a bad generated key fails here, not in training
        for table in domain.tables:
            conn.execute(table.ddl())
            marks = ", ".join("?" * len(table.columns))
            conn.executemany(f"INSERT INTO {table.name} VALUES ({marks})", rows[table.name])
        conn.commit()
    finally:
        conn.close()
    return db_path


def domain_examples(domain: Domain, db_path: Path, rng: random.Random) -> list[dict]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        ctx = Context(domain, conn, rng)
        candidates = [*single_table_candidates(ctx), *joined_candidates(ctx)]
        answerable = [c for c in _unique_sql(candidates) if has_answer(conn, c.sql)]
    finally:
        conn.close()
    examples, seen = [], set()
    for candidate in balanced_selection(answerable, rng, EXAMPLES_PER_DB):
        for question in candidate.questions:
            if question not in seen:
                seen.add(question)
                examples.append({"db_id": domain.db_id, "question": question, "query": candidate.sql,
                                 "difficulty": candidate.difficulty})
    return examples


def has_answer(conn: sqlite3.Connection, sql: str) -> bool:
    """At least one row, and a single-row result (an aggregate) holds no NULL."""
    try:
        rows = conn.execute(sql).fetchall()
    except sqlite3.Error as error:  # a template bug: fail loudly rather than ship less data
        raise RuntimeError(f"generated SQL does not run: {sql}") from error
    return bool(rows) and not (len(rows) == 1 and None in rows[0])


def balanced_selection(candidates: list[Candidate], rng: random.Random, target: int) -> list[Candidate]:
    """Round-robin over templates (in a shuffled order each round) until `target` questions,
    so every construct is represented however many instances a template produced."""
    by_template: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_template.setdefault(candidate.template, []).append(candidate)
    for group in by_template.values():
        rng.shuffle(group)
    chosen, questions = [], 0
    while questions < target and any(by_template.values()):
        names = list(by_template)
        rng.shuffle(names)
        for name in names:
            if by_template[name] and questions < target:
                chosen.append(by_template[name].pop())
                questions += len(chosen[-1].questions)
    return chosen


def spider_tables_entry(db_path: str | os.PathLike, db_id: str) -> dict:
    """The Spider tables.json entry of a SQLite file, read with PRAGMA table_info / foreign_key_list."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        columns, types, primary_keys, index = [[-1, "*"]], ["text"], [], {}
        for table_index, table in enumerate(tables):
            for _cid, name, sql_type, _notnull, _default, pk in conn.execute(f"PRAGMA table_info({table})"):
                index[(table, name)] = len(columns)
                if pk:
                    primary_keys.append(len(columns))
                columns.append([table_index, name])
                types.append("number" if any(t in sql_type.upper() for t in ("INT", "REAL", "NUM", "FLOA", "DOUB"))
                             else "text")
        foreign_keys = [
            [index[(table, row[3])], index[(row[2], row[4])]]
            for table in tables
            for row in conn.execute(f"PRAGMA foreign_key_list({table})")
        ]
    finally:
        conn.close()
    return {
        "db_id": db_id,
        "table_names_original": tables,
        "table_names": [_natural(t) for t in tables],
        "column_names_original": columns,
        "column_names": [[t, _natural(c) if t >= 0 else c] for t, c in columns],
        "column_types": types,
        "primary_keys": primary_keys,
        "foreign_keys": foreign_keys,
    }


def _natural(name: str) -> str:
    return name.lower().replace("_", " ")


def _unique_sql(candidates: list[Candidate]) -> list[Candidate]:
    """First candidate per SQL text (two templates can coincide on small tables)."""
    seen, unique = set(), []
    for candidate in candidates:
        if candidate.sql not in seen:
            seen.add(candidate.sql)
            unique.append(candidate)
    return unique


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
