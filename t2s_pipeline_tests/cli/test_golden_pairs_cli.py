"""`t2s golden-pairs`: the golden_pairs stage outside Dagster writes the same files as the asset."""

from __future__ import annotations

import json
import re
import sqlite3

from t2s_pipeline.cli import main
from t2s_pipeline.records import read_json, read_jsonl
from t2s_pipeline_tests.benchmarks.test_spider import write_spider_folder

RECORDS = [
    {"db_id": "music", "question": "How many singers?", "query": "SELECT count(*) FROM singer"},
    {"db_id": "music", "question": "Oldest first?", "query": 'SELECT name FROM singer WHERE name != "Bob" ORDER BY age DESC'},
    {"db_id": "music", "question": "Broken?", "query": "SELECT nope FROM singer"},
]


def test_spider_folder_to_pairs_rejects_and_stats(tmp_path, capsys):
    root = write_spider_folder(tmp_path / "spider", RECORDS)
    out = tmp_path / "golden"
    assert main(["golden-pairs", "--benchmark", "spider", "--root", str(root), "--out", str(out),
                 "--workers", "1", "--speed", "--raw", str(tmp_path / "raw")]) == 0
    printed = capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"pairs.jsonl", "rejects.jsonl", "stats.json"}
    pairs = list(read_jsonl(out / "pairs.jsonl"))
    assert [p["pipe_sql"] for p in pairs] == ["FROM singer\n|> AGGREGATE COUNT(*) AS count_all",
                                              "FROM singer\n|> WHERE name <> 'Bob'\n|> ORDER BY age DESC\n|> SELECT name"]
    assert [r["reason"] for r in read_jsonl(out / "rejects.jsonl")] == ["gold_exec_error"]
    stats = read_json(out / "stats.json")
    assert (stats["input"], stats["kept"], stats["pipe_validated"]) == (3, 2, 2)
    assert (tmp_path / "raw" / "databases" / "music.sqlite").is_file()
    assert "validation rate 0.6667" in printed
    assert re.search(r"speed: golden-pairs step [\d.]+ s; unavoidable work in one process [\d.]+ s .*; ratio [\d.]+",
                     printed)


def test_the_embedded_benchmark_validates_every_pair(tmp_path, capsys):
    out = tmp_path / "golden"
    assert main(["golden-pairs", "--benchmark", "embedded", "--out", str(out), "--workers", "2"]) == 0
    stats = read_json(out / "stats.json")
    assert stats["input"] == 755 and stats["validation_rate"] == 1.0, stats["rejects_by_reason"]
    assert "pipe rewrites proven 755" in capsys.readouterr().out


def test_a_spider_root_is_required(tmp_path, capsys):
    try:
        main(["golden-pairs", "--benchmark", "spider", "--out", str(tmp_path / "o")])
    except SystemExit as e:
        assert "--root is required" in str(e)
    else:
        raise AssertionError("expected SystemExit")


def _write_shop_folder(root) -> None:
    """A Spider-format folder made by hand here, not by the project's generators: one database, no tables.json."""
    db = root / "database" / "shop" / "shop.sqlite"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE orders (id INTEGER PRIMARY KEY, city TEXT, amount REAL);")
    conn.executemany("INSERT INTO orders (city, amount) VALUES (?, ?)",
                     [(city, float(k)) for k in range(50) for city in ("Oslo", "Lima")])
    conn.commit()
    conn.close()


def _element(record) -> str:
    return record if isinstance(record, str) and record.startswith("#") else json.dumps(record)


def test_sixty_records_some_broken_all_reconcile_with_ids_and_reasons(tmp_path, capsys):
    good = [{"db_id": "shop", "question": f"How many orders above {k}?",
             "query": f"SELECT count(*) FROM orders WHERE amount > {k}"} for k in range(40)]
    broken = {  # position in the file -> (element, the reason it must be rejected with)
        3: ('#{"db_id": "shop", "question": "unclosed, "query": "SELECT 1"}', "bad_record"),
        7: ("a string, not a record", "bad_record"),
        9: ({"db_id": "shop", "query": "SELECT 1"}, "bad_record"),
        12: ({"db_id": "shop", "question": "Empty SQL?", "query": "  "}, "bad_record"),
        14: ({"db_id": "../shop", "question": "Escape?", "query": "SELECT 1"}, "bad_record"),
        17: ({"db_id": "ghost", "question": "Who haunts?", "query": "SELECT 1"}, "missing_database"),
        19: ({"db_id": "ghost", "question": "Again?", "query": "SELECT 2"}, "missing_database"),
        22: ({"db_id": "shop", "question": "Typo?", "query": "SELECT (city FROM orders"}, "gold_parse_error"),
        24: ({"db_id": "shop", "question": "Typo again?", "query": "SELECT city FROM orders WHERE"}, "gold_parse_error"),
        27: ({"db_id": "shop", "question": "No column?", "query": "SELECT nope FROM orders"}, "gold_exec_error"),
        29: ({"db_id": "shop", "question": "No table?", "query": "SELECT * FROM customers"}, "gold_exec_error"),
        32: (good[0], "duplicate"),
        34: (good[5], "duplicate"),
        36: (good[5], "duplicate"),
        38: ('#{"db_id": "shop", "question": "Stray brace"}, "query": "SELECT 1"}', "bad_record"),
        41: (42, "bad_record"),
        44: (None, "bad_record"),
        47: ({"db_id": "shop", "question": 7, "query": "SELECT 1"}, "bad_record"),
        50: ({"db_id": "shop", "question": "Evidence list?", "query": "SELECT 1", "evidence": ["x"]}, "bad_record"),
        53: ({"db_id": "shop", "question": "Cut string?", "query": "SELECT 'a"}, "gold_parse_error"),
    }
    good_left = iter(good)
    elements = [broken[n][0] if n in broken else next(good_left) for n in range(60)]
    assert next(good_left, None) is None
    root = tmp_path / "shop_benchmark"
    _write_shop_folder(root)
    (root / "dev.json").write_text("[\n" + ",\n".join(_element(e).lstrip("#") for e in elements) + "\n]\n")

    out = tmp_path / "golden"
    assert main(["golden-pairs", "--benchmark", "spider", "--root", str(root), "--out", str(out),
                 "--workers", "1"]) == 0
    pairs = {p["id"]: p for p in read_jsonl(out / "pairs.jsonl")}
    rejects = list(read_jsonl(out / "rejects.jsonl"))
    not_kept = {r["id"]: r["reason"] for r in rejects if r["id"] not in pairs}
    ids = [f"spider/dev/{n}" for n in range(60)]
    assert set(pairs) | set(not_kept) == set(ids) and not set(pairs) & set(not_kept)
    assert not_kept == {f"spider/dev/{n}": reason for n, (_, reason) in broken.items()}
    assert all(r["detail"] for r in rejects)
    first_of_duplicate = {r["id"]: r["detail"] for r in rejects if r["reason"] == "duplicate"}
    assert first_of_duplicate["spider/dev/36"] == "same db_id, question and SQL as spider/dev/6"
    stats = read_json(out / "stats.json")
    assert (stats["input"], stats["kept"], stats["rejected"]) == (60, 40, 20)
    assert stats["input"] == stats["kept"] + stats["rejected"] == len(pairs) + len(not_kept)
    assert stats["rejects_by_reason"] == {"bad_record": 10, "missing_database": 2, "gold_parse_error": 3,
                                          "gold_exec_error": 2, "duplicate": 3}
    assert (stats["rejected_at_load"], stats["examples"], stats["pipe_validated"]) == (18, 42, 40)
    assert "40 kept, 20 rejected of 60" in capsys.readouterr().out


def test_a_truncated_dev_json_stops_the_cli_naming_file_and_byte(tmp_path, capsys):
    root = tmp_path / "shop_benchmark"
    _write_shop_folder(root)
    text = '[{"db_id": "shop", "question": "How many?", "query": "SELECT count(*) FROM orders"},\n {"db_id": "sh'
    (root / "dev.json").write_text(text)
    assert main(["golden-pairs", "--benchmark", "spider", "--root", str(root), "--out", str(tmp_path / "g"),
                 "--workers", "1"]) == 2
    error = capsys.readouterr().err
    assert f"{root / 'dev.json'}: truncated JSON array: the file ends at byte {len(text)}" in error
    assert not (tmp_path / "g" / "stats.json").exists()
