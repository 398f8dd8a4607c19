"""Database schemas in one form, read from Spider's tables.json or from SQLite itself, and as prompt text.

A schema is a dict: {"db_id", "tables": [{"name", "columns": [{"name", "type"}],
"primary_key": [column names], "foreign_keys": [{"column", "ref_table", "ref_column"}]}]}.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

_PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# SQLite's keywords (sqlite.org/lang_keywords.html): Spider has columns named `From` and `cast`.
SQLITE_KEYWORDS = frozenset("""
ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN BETWEEN BY
CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE
CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP
EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM
FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD
INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL
NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE
RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS
SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE UPDATE
USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
""".split())


def quote_identifier(name: str) -> str:
    """Quote a table or column name only where SQLite needs it (spaces, symbols, keywords)."""
    if _PLAIN_IDENTIFIER.match(name) and name.upper() not in SQLITE_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def read_sqlite_schema(db_path: str | Path, db_id: str | None = None) -> dict:
    """Introspect tables, column types, primary and foreign keys of a SQLite file (opened read-only)."""
    path = Path(db_path)
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        tables = []
        for name in names:
            info = conn.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchall()
            fks = conn.execute(f"PRAGMA foreign_key_list({quote_identifier(name)})").fetchall()
            pk = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
            tables.append({
                "name": name,
                "columns": [{"name": r[1], "type": (r[2] or "TEXT").upper()} for r in info],
                "primary_key": pk,
                # PRAGMA foreign_key_list: (id, seq, table, from, to, ...); `to` is NULL for implicit PK refs.
                "foreign_keys": [{"column": r[3], "ref_table": r[2], "ref_column": r[4]} for r in fks],
            })
    finally:
        conn.close()
    return {"db_id": db_id or path.stem, "tables": tables}


def schema_from_spider_tables(entry: dict) -> dict:
    """Convert one Spider tables.json entry into a schema dict."""
    tables = [{"name": t, "columns": [], "primary_key": [], "foreign_keys": []}
              for t in entry["table_names_original"]]
    columns = entry["column_names_original"]
    types = entry["column_types"]
    for (table_idx, col), col_type in zip(columns, types):
        if table_idx >= 0:
            sql_type = {"number": "INTEGER", "text": "TEXT", "time": "TEXT", "boolean": "INTEGER"}.get(col_type, col_type.upper())
            tables[table_idx]["columns"].append({"name": col, "type": sql_type})
    for pk in entry.get("primary_keys", []):
        for idx in pk if isinstance(pk, list) else [pk]:
            table_idx, col = columns[idx]
            tables[table_idx]["primary_key"].append(col)
    for src, dst in entry.get("foreign_keys", []):
        src_table, src_col = columns[src]
        dst_table, dst_col = columns[dst]
        tables[src_table]["foreign_keys"].append(
            {"column": src_col, "ref_table": entry["table_names_original"][dst_table], "ref_column": dst_col})
    # SQLite's own bookkeeping (sqlite_sequence, listed by some entries) is not part of the schema.
    tables = [t for t in tables if not t["name"].lower().startswith("sqlite_")]
    return {"db_id": entry["db_id"], "tables": tables}


def sample_values(conn: sqlite3.Connection, schema: dict, per_column: int = 3, max_chars: int = 40) -> dict:
    """{table: {column: [up to per_column distinct non-null values]}} read from the database.

    Long text is cut to max_chars; a table or column the database refuses to read gets no values.
    """
    values: dict[str, dict[str, list]] = {}
    for table in schema["tables"]:
        by_column = values.setdefault(table["name"], {})
        for col in table["columns"]:
            name, tbl = quote_identifier(col["name"]), quote_identifier(table["name"])
            try:
                rows = conn.execute(f"SELECT DISTINCT {name} FROM {tbl} WHERE {name} IS NOT NULL LIMIT ?",
                                    (per_column,)).fetchall()
            except sqlite3.Error:
                continue
            by_column[col["name"]] = [v[:max_chars] if isinstance(v, str) else v for (v,) in rows
                                      if not isinstance(v, bytes)]
    return values


def _literal(value) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else repr(value)


def schema_text(schema: dict, values: dict | None = None) -> str:
    """One compact CREATE TABLE line per table: column types, primary and foreign keys, and with
    `values` (from sample_values) a few example values per column in a comment."""
    lines = []
    values = values or {}
    for table in schema["tables"]:
        examples = values.get(table["name"], {})
        pk = table["primary_key"]
        fk_by_col = {fk["column"]: fk for fk in table["foreign_keys"]}
        parts = []
        for col in table["columns"]:
            part = f"{quote_identifier(col['name'])} {col['type']}"
            if len(pk) == 1 and col["name"] == pk[0]:
                part += " PRIMARY KEY"
            fk = fk_by_col.get(col["name"])
            if fk:
                ref_col = f"({quote_identifier(fk['ref_column'])})" if fk.get("ref_column") else ""
                part += f" REFERENCES {quote_identifier(fk['ref_table'])}{ref_col}"
            if examples.get(col["name"]):
                part += " /* e.g. " + ", ".join(_literal(v) for v in examples[col["name"]]).replace("*/", "* /") + " */"
            parts.append(part)
        if len(pk) > 1:
            parts.append("PRIMARY KEY (" + ", ".join(quote_identifier(c) for c in pk) + ")")
        lines.append(f"CREATE TABLE {quote_identifier(table['name'])} ({', '.join(parts)});")
    return "\n".join(lines)
