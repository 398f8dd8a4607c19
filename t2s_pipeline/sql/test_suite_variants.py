"""Variant databases for a test suite: the original schema filled with rows made from the original's values.

A variant keeps every table, column and constraint of the original (its CREATE statements are
replayed), and fills each table with a few rows that are, per candidate profile, original rows,
recombinations of original column values, boundary values around the constants of the gold queries
(equal, one above, one below; LIKE patterns with text around them), duplicates, and NULLs where the
column allows them. Parents are filled first and a child's reference takes one of the values its
parent table received. Some profiles aim at what single edits change: NULLs in every nullable column
(COUNT(*) vs COUNT(column), IS NULL, joins), references that point at no parent row (LEFT vs inner
join), few values per column (duplicated projected values: DISTINCT; equal values across rows: < vs
<= against a subquery), the gold constants in many rows and other values of their column in few
(a constant swapped for another), and groups of rows sized around the gold queries' HAVING thresholds.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from t2s_pipeline.sql.schema import quote_identifier

MAX_ORIGINAL_ROWS = 2_000  # rows per table read from the original (values and whole rows are drawn from them)
MAX_POOL = 200  # distinct values kept per column


@dataclass
class Column:
    name: str
    affinity: str  # integer | real | text | numeric | blob (SQLite's type affinity of the declared type)
    notnull: bool
    pk: bool


@dataclass(eq=False)  # hashed by identity: one object per table
class Table:
    name: str
    columns: list[Column]
    rows: list[tuple]  # original rows (at most MAX_ORIGINAL_ROWS)
    pools: list[list] = field(default_factory=list)  # distinct non-NULL original values per column
    integer_pk: int | None = None  # index of an INTEGER PRIMARY KEY column (a rowid alias)
    pk_columns: list[int] = field(default_factory=list)
    fks: dict[int, tuple[str, str]] = field(default_factory=dict)  # column index -> (parent table, parent column)


@dataclass
class DatabaseModel:
    """What a variant needs from the original: DDL, tables in parent-first order, original rows and values."""
    ddl: list[str]
    tables: list[Table]

    def table(self, name: str) -> Table | None:
        lower = name.lower()
        return next((t for t in self.tables if t.name.lower() == lower), None)


def affinity(declared: str) -> str:
    """SQLite's affinity rules (sqlite.org/datatype3.html, 3.1)."""
    t = (declared or "").upper()
    if "INT" in t:
        return "integer"
    if any(word in t for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in t or not t:
        return "blob"
    if any(word in t for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def read_model(db_path: str | Path, rng: random.Random, schema: dict | None = None) -> DatabaseModel:
    """Read the original database once: DDL, columns, keys, rows and value pools.

    schema: optional, in sql/schema.py's form; its foreign keys count as well as those the DDL declares
    (benchmarks often list keys in tables.json that their SQLite files do not declare)."""
    listed = {t["name"].lower(): t.get("foreign_keys", []) for t in (schema or {}).get("tables", [])}
    conn = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    try:
        ddl = [r[0] for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "AND type IN ('table', 'index', 'view') ORDER BY type = 'table' DESC, rowid")]
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        tables = []
        for name in names:
            q = quote_identifier(name)
            info = conn.execute(f"PRAGMA table_info({q})").fetchall()
            columns = [Column(r[1], affinity(r[2]), bool(r[3]), bool(r[5])) for r in info]
            rows = conn.execute(f"SELECT * FROM {q} LIMIT {MAX_ORIGINAL_ROWS}").fetchall()
            table = Table(name, columns, rows)
            table.pk_columns = [i for i, c in enumerate(columns) if c.pk]
            if len(table.pk_columns) == 1 and (info[table.pk_columns[0]][2] or "").upper() == "INTEGER":
                table.integer_pk = table.pk_columns[0]
            by_name = {c.name.lower(): i for i, c in enumerate(columns)}
            for fk in conn.execute(f"PRAGMA foreign_key_list({q})").fetchall():
                child = by_name.get(str(fk[3]).lower())
                if child is not None:
                    table.fks[child] = (fk[2], fk[4] or "")
            for fk in listed.get(name.lower(), []):
                child = by_name.get(str(fk["column"]).lower())
                if child is not None and child not in table.fks:
                    table.fks[child] = (fk["ref_table"], fk.get("ref_column") or "")
            for i in range(len(columns)):
                values = list(dict.fromkeys(row[i] for row in rows if row[i] is not None))
                table.pools.append(rng.sample(values, MAX_POOL) if len(values) > MAX_POOL else values)
            tables.append(table)
    finally:
        conn.close()
    return DatabaseModel(ddl, _parents_first(tables))


def _parents_first(tables: list[Table]) -> list[Table]:
    """Tables ordered so a referenced table comes before its children (cycles: original order)."""
    by_name = {t.name.lower(): t for t in tables}
    ordered, seen = [], set()

    def visit(table: Table, path: set[str]) -> None:
        key = table.name.lower()
        if key in seen or key in path:
            return
        for parent, _ in table.fks.values():
            if parent.lower() in by_name and parent.lower() != key:
                visit(by_name[parent.lower()], path | {key})
        seen.add(key)
        ordered.append(table)

    for table in tables:
        visit(table, set())
    return ordered


@dataclass(frozen=True)
class Profile:
    """How one candidate variant is filled."""
    rows: int  # rows per table (each table gets between rows // 2 and rows)
    original_rows: float  # chance a row starts as a whole original row (else each value is drawn on its own)
    boundary: float  # chance a value with gold constants is replaced by a boundary value
    nulls: float  # chance a nullable value is NULL
    duplicates: float  # chance a row repeats an earlier row (a new key where the key must be unique)
    orphans: float = 0.0  # chance a foreign key value points at no row of its parent
    few_values: int = 0  # > 0: each column takes one of this many values (equal values across rows)
    groups: bool = False  # rows come in groups of equal rows of different sizes, around HAVING thresholds


PROFILES = (
    Profile(4, 0.0, 0.4, 0.0, 0.2), Profile(8, 0.5, 0.3, 0.1, 0.1), Profile(15, 0.9, 0.2, 0.0, 0.0),
    Profile(6, 0.3, 0.5, 0.3, 0.3), Profile(25, 0.7, 0.3, 0.1, 0.1), Profile(3, 0.0, 0.6, 0.1, 0.0),
    Profile(12, 0.2, 0.4, 0.05, 0.25), Profile(40, 1.0, 0.15, 0.0, 0.05),
    # Aimed at what single edits change (see the module doc).
    Profile(10, 0.3, 0.3, 0.5, 0.1), Profile(10, 0.3, 0.3, 0.0, 0.1, orphans=0.35),
    Profile(12, 0.2, 0.3, 0.0, 0.3, few_values=2), Profile(8, 0.5, 0.5, 0.25, 0.2, orphans=0.2, few_values=3),
    Profile(6, 0.0, 0.3, 0.0, 0.0, groups=True), Profile(20, 0.5, 0.3, 0.3, 0.1, orphans=0.15),
    Profile(16, 0.0, 0.7, 0.1, 0.1, few_values=4), Profile(6, 0.3, 0.4, 0.6, 0.0, orphans=0.3, groups=True),
)
AIMED = 8  # PROFILES[AIMED:] aim at what single edits change
MAX_GROUP = 300  # rows per group at most (a HAVING threshold above this is not straddled)


def boundary_values(constants: dict[str, set]) -> dict[str, list]:
    """column name (lower case) -> values at and around the gold constants compared with it."""
    out: dict[str, list] = {}
    for column, values in constants.items():
        around = []
        for v in sorted(values, key=repr):
            if isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                around += [v, v - 1, v + 1]
                if isinstance(v, float):
                    around += [round(v - 0.01, 6), round(v + 0.01, 6)]
            elif isinstance(v, str) and ("%" in v or "_" in v):  # a LIKE pattern: text it matches or nearly does
                core = v.replace("%", "").replace("_", "")
                around += [core, f"x{core}", f"{core}x", f"x{core}x", core.upper(), core[:-1]]
            else:
                around += [v, str(v).lower(), str(v).upper()] if isinstance(v, str) else [v]
        out[column] = list(dict.fromkeys(around))
    return out


def fill_variant(model: DatabaseModel, boundaries: dict[str, list], profile: Profile, rng: random.Random,
                 thresholds: dict[str, list[int]] | None = None) -> dict[str, list[tuple]]:
    """Rows per table for one variant (parents first, so references take values their parent received).

    thresholds: table name (lower case) -> the counts the gold queries' HAVING clauses compare with
    (test_suite_mutants.having_thresholds), for profiles with groups."""
    out: dict[str, list[tuple]] = {}
    for table in model.tables:
        sizes = _group_sizes((thresholds or {}).get(table.name.lower(), []), rng) if profile.groups else []
        n = sum(sizes) if sizes else rng.randint(max(1, profile.rows // 2), profile.rows)
        few = [_few(table, i, boundaries, profile.few_values, rng) for i in range(len(table.columns))] \
            if profile.few_values else None
        rows: list[tuple] = []
        keys: set = set()
        next_id = max([r[table.integer_pk] for r in table.rows if isinstance(r[table.integer_pk], int)] + [0]) + 1 \
            if table.integer_pk is not None else 0
        group_left = 0  # rows still to copy from the group's first row
        for _ in range(n * 3):  # a few tries per row: some collide on a unique key
            if len(rows) >= n:
                break
            if group_left > 0 and rows:
                row = list(rows[-1])
                group_left -= 1
                for i in table.pk_columns:  # the group's rows differ in their key only
                    if i != table.integer_pk:
                        row[i] = _draw(table, i, rng) if i not in table.fks else \
                            _reference(model, out, table.fks[i], row[i], rng, profile.orphans)
            else:
                if sizes:
                    group_left = sizes.pop() - 1
                row = _fresh_row(table, rows, few, profile, rng)
                for i, column in enumerate(table.columns):
                    near = boundaries.get(column.name.lower())
                    if near and rng.random() < profile.boundary:
                        row[i] = rng.choice(near)
                    if i in table.fks:
                        row[i] = _reference(model, out, table.fks[i], row[i], rng, profile.orphans)
                    if not column.notnull and not column.pk and rng.random() < profile.nulls:
                        row[i] = None
            if table.integer_pk is not None:
                k = table.integer_pk
                if not isinstance(row[k], int) or row[k] in keys:
                    row[k], next_id = next_id, next_id + 1
                keys.add(row[k])
            elif table.pk_columns:
                key = tuple(row[i] for i in table.pk_columns)
                if key in keys or any(v is None for v in key):
                    continue
                keys.add(key)
            rows.append(tuple(row))
        out[table.name] = rows
    return out


def _fresh_row(table: Table, rows: list[tuple], few: list[list] | None, profile: Profile, rng: random.Random) -> list:
    if rows and rng.random() < profile.duplicates:
        return list(rng.choice(rows))
    if table.rows and rng.random() < profile.original_rows:
        row = list(rng.choice(table.rows))
        return [rng.choice(few[i]) if few and few[i] and i not in table.pk_columns else v for i, v in enumerate(row)]
    return [rng.choice(few[i]) if few and few[i] else _draw(table, i, rng) for i in range(len(table.columns))]


def _few(table: Table, i: int, boundaries: dict[str, list], k: int, rng: random.Random) -> list:
    """k values for column i: the gold constants compared with it first, then original values."""
    near = boundaries.get(table.columns[i].name.lower(), [])
    pool = table.pools[i]
    return list(dict.fromkeys(rng.sample(near, min(k, len(near))) + rng.sample(pool, min(k, len(pool)))))[:k]


def _group_sizes(thresholds: list[int], rng: random.Random) -> list[int]:
    """Group sizes on both sides of each threshold (and at it), and small groups of different sizes (so the
    largest and the smallest group, the ORDER BY COUNT(*) ... LIMIT 1 answers, are one group each)."""
    sizes = rng.sample((1, 2, 3, 4, 5), rng.randint(2, 4))
    for t in thresholds:
        sizes += [s for s in (t - 1, t, t + 1) if 0 < s <= MAX_GROUP]
    rng.shuffle(sizes)
    return sizes


def _draw(table: Table, i: int, rng: random.Random):
    pool = table.pools[i]
    if pool:
        return rng.choice(pool)
    kind = table.columns[i].affinity
    return rng.randint(0, 9) if kind in ("integer", "numeric") else rng.random() * 10 if kind == "real" \
        else f"v{rng.randint(0, 9)}"


def _reference(model: DatabaseModel, filled: dict[str, list[tuple]], fk: tuple[str, str], value, rng,
               orphans: float = 0.0):
    """A value the parent table holds (its filled rows), so joins along the key find partners; with chance
    `orphans`, a value it does not hold (a reference that points nowhere)."""
    parent = model.table(fk[0])
    if parent is None or parent.name not in filled or not filled[parent.name]:
        return value
    names = [c.name.lower() for c in parent.columns]
    column = fk[1].lower() if fk[1] else None
    if column not in names:
        column = parent.columns[parent.pk_columns[0]].name.lower() if parent.pk_columns else None
    if column not in names:
        return value
    j = names.index(column)
    held = [r[j] for r in filled[parent.name] if r[j] is not None]
    if held and rng.random() < orphans:
        numbers = [v for v in held if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(numbers) + rng.randint(1, 9) if len(numbers) == len(held) else f"{rng.choice(held)}~{rng.randint(0, 9)}"
    return rng.choice(held) if held else value


def build(model: DatabaseModel, rows: dict[str, list[tuple]], reverse: bool = False) -> sqlite3.Connection:
    """An in-memory database with the original DDL and these rows.

    Rows that collide on a PRIMARY KEY or UNIQUE constraint with an earlier one are left out. reverse: the
    rows the forward copy keeps, inserted last row first, which changes the order SQLite scans them in, so
    answers that depend on it show up (the two copies hold the same rows, whatever collided)."""
    if reverse:
        forward = build(model, rows)
        try:
            rows = kept_rows(forward, model)
        finally:
            forward.close()
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    for statement in model.ddl:
        try:
            conn.execute(statement)
        except sqlite3.Error:
            pass  # a view or index over something SQLite no longer accepts: the tables are what matters
    for table in model.tables:
        data = rows.get(table.name, [])
        if not data:
            continue
        marks = ", ".join("?" * len(table.columns))
        conn.executemany(f"INSERT OR IGNORE INTO {quote_identifier(table.name)} VALUES ({marks})",
                         list(reversed(data)) if reverse else data)
    conn.commit()
    return conn


def kept_rows(conn: sqlite3.Connection, model: DatabaseModel) -> dict[str, list[tuple]]:
    """The rows each table of a built database holds, in insertion order where it has a rowid."""
    out = {}
    for table in model.tables:
        q = quote_identifier(table.name)
        try:
            out[table.name] = conn.execute(f"SELECT * FROM {q} ORDER BY _rowid_").fetchall()
        except sqlite3.Error:  # WITHOUT ROWID, or a column named _rowid_
            out[table.name] = conn.execute(f"SELECT * FROM {q}").fetchall()
    return out


def save(conn: sqlite3.Connection, path: Path) -> None:
    """Write an in-memory database to a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    target = sqlite3.connect(path)
    try:
        conn.backup(target)
    finally:
        target.close()
