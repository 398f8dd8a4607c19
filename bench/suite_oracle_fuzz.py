"""The held-out oracle's own parts (bench/suite_oracle.py): a mutant generator and random databases.

Written apart from t2s_pipeline/sql/test_suite_mutants.py and test_suite_variants.py (the suites are
distilled against those), so that what they miss in common does not hide here:
- mutants: single edits of kinds a model makes, each tagged with its kind (KINDS);
- fuzz databases: the original schema filled at random as the Spider test-suite paper does (Zhong et
  al., 2020): per table a random number of rows, each value the column's original values, the gold
  constants and values next to them, a fresh value of the column's type, NULL where allowed, or a
  value already drawn (duplicates); foreign keys mostly point at a parent row, sometimes nowhere.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

KINDS = ("count_star_col", "left_join", "constant_other_value", "distinct", "group_by_other", "select_other",
         "like_pattern", "strictness", "having_dropped", "conjunct_dropped", "order_by_other")


@dataclass(eq=False)
class FuzzTable:
    name: str
    columns: list[str]
    types: list[str]
    notnull: list[bool]
    values: list[list]  # distinct original values per column (at most 300)
    fks: dict[int, tuple[str, str]] = field(default_factory=dict)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_schema(db_path: str, tables_entry: dict | None) -> tuple[list[str], list[FuzzTable]]:
    """DDL and tables (parents first) of a database, foreign keys from its DDL and from tables.json."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    ddl = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type='table' "
                                      "AND name NOT LIKE 'sqlite_%'")]
    tables = []
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"):
        info = conn.execute(f"PRAGMA table_info({_q(name)})").fetchall()
        cols = [r[1] for r in info]
        values = [[r[0] for r in conn.execute(f"SELECT DISTINCT {_q(c)} FROM {_q(name)} WHERE {_q(c)} IS NOT NULL "
                                                f"LIMIT 300")] for c in cols]
        table = FuzzTable(name, cols, [(r[2] or "").upper() for r in info], [bool(r[3] or r[5]) for r in info], values)
        for fk in conn.execute(f"PRAGMA foreign_key_list({_q(name)})"):
            if fk[3] in cols:
                table.fks[cols.index(fk[3])] = (fk[2], fk[4] or "")
        tables.append(table)
    conn.close()
    by_name = {t.name.lower(): t for t in tables}
    if tables_entry:
        names, columns = tables_entry["table_names_original"], tables_entry["column_names_original"]
        for src, dst in tables_entry.get("foreign_keys", []):
            child, parent = by_name.get(names[columns[src][0]].lower()), names[columns[dst][0]]
            if child is not None and columns[src][1] in child.columns:
                child.fks.setdefault(child.columns.index(columns[src][1]), (parent, columns[dst][1]))
    ordered, seen = [], set()

    def visit(t: FuzzTable, path: frozenset) -> None:
        if t.name in seen or t.name in path:
            return
        for parent, _ in t.fks.values():
            if parent.lower() in by_name:
                visit(by_name[parent.lower()], path | {t.name})
        seen.add(t.name)
        ordered.append(t)

    for t in tables:
        visit(t, frozenset())
    return ddl, ordered


def _fresh(kind: str, rng: random.Random):
    if "INT" in kind or "NUM" in kind or "BOOL" in kind:
        return rng.randint(-3, 3000)
    if any(w in kind for w in ("REAL", "FLOA", "DOUB", "DEC")):
        return round(rng.uniform(-10, 5000), 2)
    return rng.choice(("a", "zz", "Qx", "new", "0", "")) + str(rng.randint(0, 99))


def _near(constants: list) -> list:
    out = []
    for c in constants:
        if isinstance(c, (int, float)) and not isinstance(c, bool):
            out += [c, c - 1, c + 1]
        elif isinstance(c, str) and ("%" in c or "_" in c):
            core = c.replace("%", "").replace("_", "")
            out += [core, "a" + core, core + "b", "a" + core + "b", core.lower(), core.upper()]
        else:
            out += [c]
    return out


def fuzz_rows(tables: list[FuzzTable], constants: dict[str, list], rng: random.Random) -> dict[str, list[tuple]]:
    """One random fill: per table a random number of rows; the mix of value sources varies per database."""
    scale = rng.choice((2, 4, 8, 16, 30, 60))
    p_null, p_dup_value, p_dup_row, p_dangle, p_const = (rng.choice(v) for v in (
        (0.0, 0.1, 0.3), (0.05, 0.2, 0.5), (0.0, 0.1, 0.3), (0.0, 0.0, 0.1, 0.3), (0.1, 0.25, 0.5)))
    out: dict[str, list[tuple]] = {}
    for t in tables:
        n = rng.randint(0 if rng.random() < 0.05 else 1, scale)
        rows: list[tuple] = []
        drawn: list[list] = [[] for _ in t.columns]
        near = [_near(constants.get(c.lower(), [])) for c in t.columns]
        for _ in range(n):
            if rows and rng.random() < p_dup_row:
                rows.append(rng.choice(rows))
                continue
            row = []
            for i, col in enumerate(t.columns):
                roll = rng.random()
                if not t.notnull[i] and roll < p_null:
                    v = None
                elif near[i] and roll < p_null + p_const:
                    v = rng.choice(near[i])
                elif drawn[i] and rng.random() < p_dup_value:
                    v = rng.choice(drawn[i])
                elif t.values[i] and rng.random() < 0.85:
                    v = rng.choice(t.values[i])
                else:
                    v = _fresh(t.types[i], rng)
                if i in t.fks and rng.random() >= p_dangle:
                    v = _parent_value(tables, out, t.fks[i], v, rng)
                drawn[i].append(v)
                row.append(v)
            rows.append(tuple(row))
        out[t.name] = rows
    return out


def _parent_value(tables: list[FuzzTable], filled: dict, fk: tuple[str, str], value, rng: random.Random):
    parent = next((t for t in tables if t.name.lower() == fk[0].lower()), None)
    if parent is None or not filled.get(parent.name):
        return value
    lower = [c.lower() for c in parent.columns]
    j = lower.index(fk[1].lower()) if fk[1] and fk[1].lower() in lower else 0
    held = [r[j] for r in filled[parent.name] if r[j] is not None]
    return rng.choice(held) if held else value


def fuzz_database(ddl: list[str], tables: list[FuzzTable], rows: dict[str, list[tuple]]) -> tuple:
    """The fill as an in-memory database, and its twin: the rows it kept, inserted in reverse order."""
    def make(data: dict[str, list[tuple]], reverse: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:")
        conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
        for statement in ddl:
            try:
                conn.execute(statement)
            except sqlite3.Error:
                pass
        for t in tables:
            marks = ", ".join("?" * len(t.columns))
            batch = data.get(t.name, [])
            conn.executemany(f"INSERT OR IGNORE INTO {_q(t.name)} VALUES ({marks})", batch[::-1] if reverse else batch)
        return conn

    forward = make(rows, False)
    kept = {}
    for t in tables:
        try:
            kept[t.name] = forward.execute(f"SELECT * FROM {_q(t.name)} ORDER BY _rowid_").fetchall()
        except sqlite3.Error:
            kept[t.name] = forward.execute(f"SELECT * FROM {_q(t.name)}").fetchall()
    return forward, make(kept, True)


# --- mutants ---------------------------------------------------------------------------------------------


def _literal(node: exp.Expr):
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        v = _literal(node.this)
        return -v if isinstance(v, (int, float)) else None
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return node.this
    try:
        return int(node.this)
    except ValueError:
        try:
            return float(node.this)
        except ValueError:
            return None


def constants_of(sqls: list[str]) -> dict[str, list]:
    """column name (lower case) -> constants the queries compare it with."""
    out: dict[str, list] = {}
    for sql in sqls:
        tree = _parse(sql)
        for node in tree.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like) if tree else ():
            col, lit = node.this, _literal(node.expression)
            if isinstance(col, exp.Column) and lit is not None:
                out.setdefault(col.name.lower(), []).append(lit)
    return out


def _parse(sql: str):
    try:
        return sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.SqlglotError, ValueError):
        return None


def _tables_in(select: exp.Select, tables: list[FuzzTable]) -> dict[str, FuzzTable]:
    by_name = {t.name.lower(): t for t in tables}
    out = {}
    for source in [select.args.get("from_"), *(select.args.get("joins") or [])]:
        node = source.this if source is not None else None
        if isinstance(node, exp.Table) and node.name.lower() in by_name:
            out[node.alias_or_name.lower()] = by_name[node.name.lower()]
    return out


def _owner(column: exp.Column, tables: list[FuzzTable]) -> FuzzTable | None:
    select = column.find_ancestor(exp.Select)
    scope = _tables_in(select, tables) if select is not None else {}
    if column.table:
        return scope.get(column.table.lower())
    return next((t for t in scope.values() if column.name.lower() in (c.lower() for c in t.columns)), None)


def _edits(tree: exp.Expr, tables: list[FuzzTable], rng: random.Random):
    """(kind, walk index, edit function) for every edit of the kinds in KINDS."""
    out = []
    for k, node in enumerate(tree.walk()):
        if isinstance(node, exp.Count):
            inner = node.this
            if isinstance(inner, exp.Star):
                select = node.find_ancestor(exp.Select)
                for t in (_tables_in(select, tables).items() if select is not None else ()):
                    for col in rng.sample(t[1].columns, min(2, len(t[1].columns))):
                        out.append(("count_star_col", k, lambda n, a=t[0], c=col: n.set("this", exp.column(c, a))))
            elif isinstance(inner, exp.Column):
                out.append(("count_star_col", k, lambda n: n.set("this", exp.Star())))
            if isinstance(inner, exp.Distinct) or isinstance(inner, exp.Column):
                out.append(("distinct", k, lambda n: n.set("this", n.this.expressions[0]
                                                           if isinstance(n.this, exp.Distinct)
                                                           else exp.Distinct(expressions=[n.this]))))
        if isinstance(node, exp.Join) and node.args.get("on") is not None and not node.args.get("side"):
            out.append(("left_join", k, lambda n: n.set("side", "LEFT")))
        if isinstance(node, exp.Select):
            out.append(("distinct", k, lambda n: n.set("distinct", None if n.args.get("distinct") else exp.Distinct())))
            if node.args.get("having") is not None:
                out.append(("having_dropped", k, lambda n: n.set("having", None)))
        if isinstance(node, (exp.GT, exp.GTE, exp.LT, exp.LTE)):
            other = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT}[type(node)]
            out.append(("strictness", k, lambda n, o=other: n.replace(o(this=n.this, expression=n.expression))))
        if isinstance(node, exp.And) and node.find_ancestor(exp.Where) is not None:
            out.append(("conjunct_dropped", k, lambda n: n.replace(n.this)))
            out.append(("conjunct_dropped", k, lambda n: n.replace(n.expression)))
        if isinstance(node, exp.Like) and isinstance(node.expression, exp.Literal):
            pattern = node.expression.this
            core = pattern.strip("%")
            for other in {f"{core}%", f"%{core}", core, f"%{core}%"} - {pattern}:
                out.append(("like_pattern", k, lambda n, p=other: n.set("expression", exp.Literal.string(p))))
        if isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)) and \
                isinstance(node.this, exp.Column) and _literal(node.expression) is not None:
            table = _owner(node.this, tables)
            if table is not None and node.this.name.lower() in (c.lower() for c in table.columns):
                values = table.values[[c.lower() for c in table.columns].index(node.this.name.lower())]
                current = _literal(node.expression)
                pool = [v for v in values if v != current and isinstance(v, (int, float, str)) and not isinstance(v, bool)]
                for v in rng.sample(pool, min(3, len(pool))):
                    lit = exp.Literal.string(v) if isinstance(v, str) else exp.Literal.number(v)
                    out.append(("constant_other_value", k, lambda n, l=lit: n.set("expression", l)))
        if isinstance(node, exp.Column) and isinstance(node.parent, (exp.Group, exp.Ordered)) or \
                isinstance(node, exp.Column) and isinstance(node.parent, exp.Select) and node in node.parent.expressions:
            kind = "group_by_other" if isinstance(node.parent, exp.Group) else \
                "order_by_other" if isinstance(node.parent, exp.Ordered) else "select_other"
            table = _owner(node, tables)
            if table is not None:
                others = [c for c in table.columns if c.lower() != node.name.lower()]
                for c in rng.sample(others, min(2, len(others))):
                    out.append((kind, k, lambda n, c=c: n.set("this", exp.to_identifier(c))))
    return out


def oracle_mutants(gold: str, tables: list[FuzzTable], rng: random.Random, limit: int = 40) -> list[tuple[str, str]]:
    """(kind, SQL) one edit away from the gold, distinct, never the gold's own text."""
    tree = _parse(gold)
    if tree is None:
        return []
    base = tree.sql(dialect="sqlite")
    edits = _edits(tree, tables, rng)
    rng.shuffle(edits)
    out: dict[str, str] = {}
    for kind, k, edit in edits:
        if len(out) >= limit:
            break
        copy = tree.copy()
        node = next(n for i, n in enumerate(copy.walk()) if i == k)
        try:
            edit(node)
            text = copy.sql(dialect="sqlite")
        except (sqlglot.errors.SqlglotError, ValueError, AttributeError, TypeError, IndexError):
            continue
        if text != base and text not in out:
            out[text] = kind
    return [(kind, sql) for sql, kind in out.items()]
