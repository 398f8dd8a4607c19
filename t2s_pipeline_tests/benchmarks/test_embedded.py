"""The embedded mini benchmark: shape, answerable gold SQL, determinism, coverage and wording."""

from __future__ import annotations

import collections
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from t2s_pipeline.benchmarks.embedded import write_embedded_benchmark

SPIDER_TABLE_FIELDS = (
    "db_id", "table_names_original", "table_names", "column_names_original",
    "column_names", "column_types", "primary_keys", "foreign_keys",
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    return write_embedded_benchmark(tmp_path_factory.mktemp("embedded"), seed=0)


@pytest.fixture(scope="module")
def examples(bench) -> list[dict]:
    return json.loads((bench / "train.json").read_text())


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def test_databases_keys_example_count_and_size(bench, examples):
    db_dirs = sorted(p for p in (bench / "database").iterdir() if p.is_dir())
    assert len(db_dirs) >= 5
    for db_dir in db_dirs:
        conn = _read_only(db_dir / f"{db_dir.name}.sqlite")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert 3 <= len(tables) <= 5, db_dir.name
        primary = [c for t in tables for c in conn.execute(f"PRAGMA table_info({t})") if c[5]]
        foreign = [f for t in tables for f in conn.execute(f"PRAGMA foreign_key_list({t})")]
        for t in tables:
            assert 15 <= conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] <= 60, (db_dir.name, t)
        conn.close()
        assert primary and foreign, db_dir.name
    assert len(examples) >= 600
    per_db = collections.Counter(e["db_id"] for e in examples)
    assert set(per_db) == {p.name for p in db_dirs}
    assert min(per_db.values()) >= 100, per_db
    assert {e["difficulty"] for e in examples} == {"easy", "medium", "hard", "extra"}
    size = sum(f.stat().st_size for f in bench.rglob("*") if f.is_file())
    assert size < 3 * 1024 * 1024


def test_every_gold_query_returns_rows(bench, examples):
    connections = {}
    for example in examples:
        db_id = example["db_id"]
        if db_id not in connections:
            connections[db_id] = _read_only(bench / "database" / db_id / f"{db_id}.sqlite")
        rows = connections[db_id].execute(example["query"]).fetchall()
        assert rows, example
        if len(rows) == 1:
            assert None not in rows[0], example  # an aggregate over nothing
    for conn in connections.values():
        conn.close()


def test_same_seed_gives_identical_files(tmp_path):
    first = write_embedded_benchmark(tmp_path / "a", seed=3)
    second = write_embedded_benchmark(tmp_path / "b", seed=3)
    again = write_embedded_benchmark(tmp_path / "a", seed=3)  # a rerun over an existing folder
    for name in ("train.json", "tables.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes() == (again / name).read_bytes()
    other = write_embedded_benchmark(tmp_path / "c", seed=4)
    assert (other / "train.json").read_bytes() != (first / "train.json").read_bytes()


def test_sql_constructs_are_covered(examples):
    queries = [e["query"] for e in examples]

    def count(predicate) -> int:
        return sum(1 for q in queries if predicate(q))

    counts = {
        "2-table join": count(lambda q: " JOIN " in q and "T3" not in q),
        "3-table join": count(lambda q: q.count(" JOIN ") >= 2 and "T3" in q),
        "GROUP BY": count(lambda q: "GROUP BY" in q),
        "HAVING": count(lambda q: "HAVING" in q),
        "ORDER BY LIMIT": count(lambda q: re.search(r"ORDER BY .* LIMIT \d+", q) is not None),
        "IN subquery": count(lambda q: re.search(r"(?<!NOT) IN \(SELECT", q) is not None),
        "NOT IN subquery": count(lambda q: "NOT IN (SELECT" in q),
        "WHERE": count(lambda q: " WHERE " in q),
        "LIKE": count(lambda q: " LIKE " in q),
        "BETWEEN": count(lambda q: " BETWEEN " in q),
        "DISTINCT": count(lambda q: "DISTINCT" in q),
        **{func: count(lambda q, f=func: f"{f}(" in q) for func in ("COUNT", "AVG", "SUM", "MIN", "MAX")},
    }
    assert all(n >= 15 for n in counts.values()), {k: n for k, n in counts.items() if n < 15}
    set_ops = {op: count(lambda q, o=op: f" {o} SELECT" in q) for op in ("UNION", "INTERSECT", "EXCEPT")}
    assert all(n >= 5 for n in set_ops.values()), set_ops


def test_questions_are_varied_and_paraphrased(examples):
    openings = {" ".join(e["question"].split()[:2]) for e in examples}
    assert len(openings) >= 20, sorted(openings)
    assert len({e["query"] for e in examples}) <= 0.6 * len(examples)
    pairs = [(e["db_id"], e["question"]) for e in examples]
    assert len(pairs) == len(set(pairs))


def test_literals_appear_in_the_question(examples):
    for example in examples:
        for value in re.findall(r"'([^']*)'", example["query"]):
            assert value.strip("%") in example["question"], example
        for number in re.findall(r"[<>=] (\d+(?:\.\d+)?)", example["query"]):
            assert number in example["question"], example


def test_tables_json_is_consistent(bench):
    entries = json.loads((bench / "tables.json").read_text())
    assert len(entries) >= 5
    for entry in entries:
        assert all(field in entry for field in SPIDER_TABLE_FIELDS), entry.keys()
        assert (bench / "database" / entry["db_id"] / f"{entry['db_id']}.sqlite").is_file()
        assert len(entry["table_names"]) == len(entry["table_names_original"])
        columns = entry["column_names_original"]
        assert columns[0] == [-1, "*"]
        assert len(entry["column_names"]) == len(columns) == len(entry["column_types"])
        assert set(entry["column_types"]) <= {"number", "text"}
        assert all(-1 <= t < len(entry["table_names"]) for t, _ in columns)
        assert entry["primary_keys"] and entry["foreign_keys"]
        assert all(0 < i < len(columns) for i in entry["primary_keys"])
        for source, target in entry["foreign_keys"]:
            assert 0 < source < len(columns) and 0 < target < len(columns)
            assert columns[source][0] != -1 and columns[target][0] != -1


def test_generator_imports_no_heavy_frameworks():
    code = (
        "import sys, t2s_pipeline.benchmarks.embedded; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'torch', 'transformers')]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
