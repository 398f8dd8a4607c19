"""build_golden_pairs: gold SQL kept where it runs, rejected with a reason where not, order kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.spider import load_spider
from t2s_pipeline.records import read_json, read_jsonl
from t2s_pipeline.sql.golden import build_golden_pairs
from t2s_pipeline_tests.benchmarks.test_spider import SPIDER_DIR, write_spider_folder

NEVER_ENDS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
GOLD = [
    ("music", "SELECT count(*) FROM singer"),
    ("music", "SELECT name FROM singer ORDER BY age DESC"),
    ("music", "SELECT nope FROM singer"),  # parses, fails to run
    ("music", "SELECT name FROM singer WHERE age > 100"),  # runs, no rows: kept
    ("music", NEVER_ENDS),
    ("other", "SELECT name FROM singer"),
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
    assert [p["id"] for p in pairs] == ["tiny/dev/0", "tiny/dev/1", "tiny/dev/3", "tiny/dev/5"]  # input order
    assert rejects["tiny/dev/2"]["reason"] == "gold_exec_error" and "nope" in rejects["tiny/dev/2"]["detail"]
    assert rejects["tiny/dev/4"]["reason"] == "gold_timeout"
    assert all(r["stage"] == "golden_pairs" for r in rejects.values())

    first, ordered, empty, other = pairs
    assert first["question"] == "question 0" and first["gold_sql"] == GOLD[0][1]
    assert first["validation"] == "executed" and first["result_rows"] == 1 and not first["ordered"]
    assert ordered["ordered"] and ordered["result_rows"] == 3
    assert empty["empty_result"] and empty["result_rows"] == 0
    assert other["db_id"] == "other" and "pipe_sql" not in other

    assert stats["input"] == 6 == stats["kept"] + stats["rejected"]
    assert stats["rejects_by_reason"] == {"gold_exec_error": 1, "gold_timeout": 1}
    assert stats["benchmarks"]["tiny"] == {"input": 6, "kept": 4, "rejected": 2}
    assert stats["validation_rate"] == round(4 / 6, 4) and stats["empty_results"] == 1
    assert read_json(out / "stats.json") == stats


def test_real_spider_dev_golden_pairs(tmp_path):
    if not (SPIDER_DIR / "dev.json").is_file():
        pytest.skip(f"Spider not found at {SPIDER_DIR.resolve()}")
    start = time.monotonic()
    loaded = load_spider(SPIDER_DIR, split_files={"dev": "dev.json"})
    raw = write_raw_benchmarks([loaded], tmp_path / "raw")
    golden = build_golden_pairs(tmp_path / "raw", tmp_path / "golden", timeout_s=10.0, workers=2)
    print(f"spider dev: loaded {raw['kept']}/{raw['input']}, raw rejects {raw['rejects_by_reason']}, "
          f"golden kept {golden['kept']}, golden rejects {golden['rejects_by_reason']}, "
          f"empty results {golden['empty_results']}, golden {golden['seconds']}s, total {time.monotonic() - start:.1f}s")
    # Every question whose database is present either runs or is rejected for not running.
    assert raw["input"] == 1034
    assert golden["input"] == raw["kept"]
    exec_failures = golden["rejects_by_reason"].get("gold_exec_error", 0) + golden["rejects_by_reason"].get("gold_timeout", 0)
    assert golden["kept"] == 1034 - raw["rejected"] - exec_failures
    assert golden["kept"] >= 950
