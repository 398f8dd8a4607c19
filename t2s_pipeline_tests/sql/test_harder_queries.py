"""100 harder gold queries over the Spider dev databases (fixtures/harder_queries.jsonl, written by hand for
this test: CTEs, several and chained, recursive, with set operations; window functions over aggregates;
nested queries) go through raw_benchmarks and golden_pairs as Spider dev does: at least 97% must be
rewritten into pipe SQL and proven equal by execution."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.spider import load_spider
from t2s_pipeline.records import read_jsonl
from t2s_pipeline.sql.golden import build_golden_pairs
from t2s_pipeline.sql.pipe import split_pipe
from t2s_pipeline_tests.benchmarks.test_spider import SPIDER_DIR

FIXTURE = Path(__file__).parent / "fixtures" / "harder_queries.jsonl"


def test_harder_queries_are_piped_and_proven_by_execution(tmp_path):
    if not (SPIDER_DIR / "database").is_dir():
        pytest.skip(f"Spider dev databases not found at {SPIDER_DIR.resolve()}: the harder-query set runs on them")
    queries = list(read_jsonl(FIXTURE))
    assert len(queries) == 100
    root = tmp_path / "harder"
    root.mkdir()
    (root / "database").symlink_to((SPIDER_DIR / "database").resolve())
    shutil.copyfile(SPIDER_DIR / "tables.json", root / "tables.json")
    records = [{"db_id": q["db_id"], "question": f"harder query {i}", "query": q["sql"]} for i, q in enumerate(queries)]
    (root / "dev.json").write_text(json.dumps(records, indent=1))

    raw = write_raw_benchmarks([load_spider(root, benchmark="harder", split_files={"dev": "dev.json"})], tmp_path / "raw")
    stats = build_golden_pairs(tmp_path / "raw", tmp_path / "golden", workers=2)
    pairs = list(read_jsonl(tmp_path / "golden" / "pairs.jsonl"))
    failed = [(p["gold_sql"], p["validation"]) for p in pairs if p["validation"] != "match"]
    print(f"\nharder queries: {stats['pipe_validated']} of {stats['input']} piped and proven; "
          f"operators {stats['operators']}; not proven {failed}")
    assert raw["kept"] == 100 and stats["kept"] == 100  # every gold query runs
    assert stats["pipe_validated"] >= 97, failed

    proven = [p for p in pairs if p["validation"] == "match"]
    with_cte = [p for p in proven if p["gold_sql"].startswith("WITH")]
    assert len(with_cte) >= 55
    assert all(p["pipe_sql"].startswith("WITH") and p["pipe_ops"][0] == "WITH" for p in with_cte)
    over_groups = [p for p in proven if "OVER" in p["gold_sql"] and "GROUP BY" in p["gold_sql"].split(" OVER ")[-1]]
    assert len(over_groups) >= 25  # windows over aggregates: EXTEND after AGGREGATE
    for p in over_groups:
        if "WITH" not in p["gold_sql"]:
            assert p["pipe_ops"].index("EXTEND") > p["pipe_ops"].index("AGGREGATE"), p["pipe_sql"]
    assert all(len(split_pipe(p["pipe_sql"])) == len(p["pipe_ops"]) for p in proven)
