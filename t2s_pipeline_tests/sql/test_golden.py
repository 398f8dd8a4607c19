"""build_golden_pairs: gold SQL executed, rewritten into pipe SQL and proven; counts reconcile, order kept."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.spider import load_spider
from t2s_pipeline.records import make_example, read_json, read_jsonl, write_json, write_jsonl
from t2s_pipeline.sql.golden import build_golden_pairs
from t2s_pipeline.sql.schema import read_sqlite_schema
from t2s_pipeline_tests.benchmarks.test_spider import SPIDER_DIR, make_database, write_spider_folder

NEVER_ENDS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
GOLD = [
    ("music", "SELECT count(*) FROM singer"),
    ("music", "SELECT name FROM singer ORDER BY age DESC"),
    ("music", "SELECT nope FROM singer"),  # parses, fails to run
    ("music", "SELECT name FROM singer WHERE age > 100"),  # runs, no rows: kept
    ("music", NEVER_ENDS),
    ("other", "SELECT name FROM singer"),
    ("music", "SELECT 1 + 1"),  # runs; no pipe rewrite (no FROM): kept for sql
    ("music", "WITH t AS (SELECT name, age FROM singer) SELECT name FROM t WHERE age > 28"),  # a CTE, rewritten
]


@pytest.fixture
def raw_dir(tmp_path) -> Path:
    records = [{"db_id": db, "question": f"question {i}", "query": sql} for i, (db, sql) in enumerate(GOLD)]
    loaded = load_spider(write_spider_folder(tmp_path / "tiny", records, db_ids=("music", "other")), benchmark="tiny")
    write_raw_benchmarks([loaded], tmp_path / "raw")
    return tmp_path / "raw"


@pytest.mark.parametrize("workers", [1, 2])
def test_golden_pairs(raw_dir, tmp_path, workers):
    out = tmp_path / f"golden{workers}"
    stats = build_golden_pairs(raw_dir, out, timeout_s=0.5, workers=workers)

    pairs = list(read_jsonl(out / "pairs.jsonl"))
    rejects = {r["id"]: r for r in read_jsonl(out / "rejects.jsonl")}
    assert [p["id"] for p in pairs] == ["tiny/dev/0", "tiny/dev/1", "tiny/dev/3", "tiny/dev/5", "tiny/dev/6",
                                        "tiny/dev/7"]
    assert rejects["tiny/dev/2"]["reason"] == "gold_exec_error" and "nope" in rejects["tiny/dev/2"]["detail"]
    assert rejects["tiny/dev/4"]["reason"] == "gold_timeout"
    assert rejects["tiny/dev/6"]["reason"] == "rewrite_unsupported:no_from"  # a reject record, and still a pair
    assert all(r["stage"] == "golden_pairs" for r in rejects.values())

    first, ordered, empty, other, unsupported, cte = pairs
    assert first["question"] == "question 0" and first["gold_sql"] == GOLD[0][1]
    assert first["validation"] == "match" and first["result_rows"] == 1 and not first["ordered"]
    assert first["pipe_sql"] == "FROM singer\n|> AGGREGATE COUNT(*) AS count_all"
    assert first["pipe_ops"] == ["FROM", "AGGREGATE"]
    assert ordered["ordered"] and ordered["result_rows"] == 3
    assert ordered["pipe_sql"] == "FROM singer\n|> ORDER BY age DESC\n|> SELECT name"
    assert empty["empty_result"] and empty["result_rows"] == 0 and empty["validation"] == "match"
    assert other["db_id"] == "other" and other["validation"] == "match"
    assert unsupported["validation"] == "rewrite_unsupported:no_from" and "pipe_sql" not in unsupported
    assert cte["validation"] == "match" and cte["result_rows"] == 2
    assert cte["pipe_sql"] == "WITH t AS (FROM singer |> SELECT name, age)\nFROM t\n|> WHERE age > 28\n|> SELECT name"
    assert cte["pipe_ops"] == ["WITH", "WHERE", "SELECT"]

    assert stats["input"] == 8 == stats["kept"] + stats["rejected"]
    assert stats["kept"] == 6 == stats["pipe_validated"] + stats["pipe_rejected"]
    assert stats["pipe_validated"] == 5
    assert stats["rejects_by_reason"] == {"gold_exec_error": 1, "gold_timeout": 1, "rewrite_unsupported:no_from": 1}
    assert stats["unsupported_constructs"] == {"no_from": 1}
    assert stats["benchmarks"]["tiny"] == {"input": 8, "kept": 6, "rejected": 2, "rejected_at_load": 0,
                                           "pipe_validated": 5}
    assert stats["validation_rate"] == round(5 / 8, 4) and stats["empty_results"] == 1
    assert stats["operators"] == {"SELECT": 4, "FROM": 4, "WHERE": 2, "AGGREGATE": 1, "ORDER BY": 1, "WITH": 1}
    assert read_json(out / "stats.json") == stats


def test_without_pipe_gold_queries_are_only_executed(raw_dir, tmp_path):
    stats = build_golden_pairs(raw_dir, tmp_path / "golden", timeout_s=0.5, workers=1, pipe=False)
    pairs = list(read_jsonl(tmp_path / "golden" / "pairs.jsonl"))
    assert {p["validation"] for p in pairs} == {"executed"} and not any("pipe_sql" in p for p in pairs)
    assert stats["rejects_by_reason"] == {"gold_exec_error": 1, "gold_timeout": 1}
    assert stats["validation"] == "execution" and stats["validation_rate"] == round(6 / 8, 4)


def test_bad_gold_is_rejected_within_the_timeout_and_databases_stay_byte_identical(tmp_path):
    raw = tmp_path / "raw"
    (raw / "databases").mkdir(parents=True)
    db = make_database(raw / "databases" / "music.sqlite")
    write_json(raw / "schemas.json", {"music": read_sqlite_schema(db, "music")})
    gold = [NEVER_ENDS, "DROP TABLE singer", "SELEC name FRM singer", "SELECT name FROM singer"]
    write_jsonl(raw / "examples.jsonl", [make_example("bad", "dev", i, "music", f"q{i}", sql)
                                        for i, sql in enumerate(gold)])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    start = time.monotonic()
    stats = build_golden_pairs(raw, tmp_path / "golden", timeout_s=0.5, workers=1)
    assert time.monotonic() - start < 5
    rejects = {r["id"]: r for r in read_jsonl(tmp_path / "golden" / "rejects.jsonl")}
    assert rejects["bad/dev/0"]["reason"] == "gold_timeout"
    assert rejects["bad/dev/1"]["reason"] == "gold_exec_error" and rejects["bad/dev/1"]["detail"].startswith("denied")
    assert rejects["bad/dev/2"]["reason"] == "gold_exec_error"
    assert stats["kept"] == stats["pipe_validated"] == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_the_blocking_check_compares_the_rate_with_the_floor(raw_dir, tmp_path):
    from t2s_pipeline.assets.golden_pairs import golden_pairs_validation_rate

    out = tmp_path / "golden"
    stats = build_golden_pairs(raw_dir, out, timeout_s=0.5, workers=1)
    for floor, passed in ((0.6, True), (0.7, False)):
        write_json(out / "stats.json", {**stats, "min_validation_rate": floor})
        result = golden_pairs_validation_rate(golden_pairs=out)
        assert result.passed is passed
        assert result.metadata["validation_rate"].value == round(5 / 8, 4)


def test_real_spider_dev_golden_pairs(tmp_path):
    if not (SPIDER_DIR / "dev.json").is_file():
        pytest.skip(f"Spider not found at {SPIDER_DIR.resolve()}")
    start = time.monotonic()
    loaded = load_spider(SPIDER_DIR, split_files={"dev": "dev.json"})
    raw = write_raw_benchmarks([loaded], tmp_path / "raw")
    golden = build_golden_pairs(tmp_path / "raw", tmp_path / "golden", timeout_s=10.0, workers=2)
    print(f"spider dev: loaded {raw['kept']}/{raw['input']}, golden kept {golden['kept']}, "
          f"pipe validated {golden['pipe_validated']} ({golden['validation_rate']:.2%}), "
          f"rejects {golden['rejects_by_reason']}, unsupported {golden['unsupported_constructs']}, "
          f"golden {golden['seconds']}s, total {time.monotonic() - start:.1f}s")
    # The 62 wta_1 questions, whose database this copy lacks, are rejected at load and carried over.
    assert raw["input"] == golden["input"] == 1034 and golden["examples"] == raw["kept"] == 972
    assert golden["rejected_at_load"] == raw["rejected"] == golden["rejects_by_reason"]["missing_database"] == 62
    assert golden["kept"] == 1034 - golden["rejected"]
    assert golden["validation_rate"] >= 0.98
    pairs = list(read_jsonl(tmp_path / "golden" / "pairs.jsonl"))
    validated = [p for p in pairs if p["validation"] == "match"]
    assert len(validated) == golden["pipe_validated"] and all("|>" in p["pipe_sql"] for p in validated)


def test_streaming_in_small_blocks_gives_the_same_files_as_one_block(raw_dir, tmp_path):
    whole = build_golden_pairs(raw_dir, tmp_path / "whole", timeout_s=0.5, workers=1)
    blocks = build_golden_pairs(raw_dir, tmp_path / "blocks", timeout_s=0.5, workers=1, block_size=2)
    for name in ("pairs.jsonl", "rejects.jsonl"):
        assert (tmp_path / "blocks" / name).read_text() == (tmp_path / "whole" / name).read_text()
    assert {**blocks, "seconds": 0} == {**whole, "seconds": 0}
