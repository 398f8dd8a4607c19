"""`t2s golden-pairs`: the golden_pairs stage outside Dagster writes the same files as the asset."""

from __future__ import annotations

import re

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
