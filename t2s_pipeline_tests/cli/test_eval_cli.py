"""`t2s eval`: Spider evaluator file formats in, the summary table and one JSON verdict per line out."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from t2s_pipeline.cli import main

SPIDER = Path(os.environ.get("T2S_SPIDER_DIR") or Path(__file__).resolve().parents[3] / "shared/benchmarks/spider")

# (gold, prediction, expected verdict) on the `shop` database.
LINES = [
    ("SELECT name, price FROM item", "SELECT price, name FROM item", "ok"),  # column order
    ("SELECT name FROM item", "SELECT name FROM item ORDER BY price DESC", "ok"),  # row order, gold unordered
    ("SELECT name FROM item ORDER BY price", "SELECT name FROM item ORDER BY price DESC", "wrong_result"),
    ("SELECT kind FROM item", "SELECT DISTINCT kind FROM item", "wrong_result"),  # duplicates count
    ("SELECT kind, count(*) FROM item GROUP BY kind", "SELECT count(*), kind FROM item GROUP BY 2", "ok"),
    ("SELECT count(*) FROM item", "", "not_sql"),  # an empty line is an empty prediction
    ("SELECT count(*) FROM item", "DROP TABLE item", "denied"),
    ("SELECT count(*) FROM item", "SELECT 1; DELETE FROM item", "not_sql"),
    ("SELECT count(*) FROM item", "ATTACH DATABASE 'x.sqlite' AS x", "denied"),
    ("SELECT count(*) FROM item", "PRAGMA writable_schema = 1", "denied"),
    ("SELECT count(*) FROM item", "SELECT load_extension('evil')", "denied"),
    ("SELECT count(*) FROM item",
     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "timeout"),
    ("SELECT count(*) FROM item", "SELECT count(*) FROM item a, item b, item c, item d, item e, item f, item g",
     "timeout"),
    ("SELECT count(*) FROM item", "SELECT count(*) FROM nope", "exec_error"),
    ("SELECT count(*) FROM item\tshop", "SELECT count(*) FROM item\tshop", "ok"),  # a tab and db_id after the SQL
]


def make_shop(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, price REAL)")
    conn.executemany("INSERT INTO item (name, kind, price) VALUES (?, ?, ?)",
                     [(f"item{i}", ("tool", "toy", "food")[i % 3], 1.5 * i) for i in range(30)])
    conn.commit()
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def files(tmp_path):
    db = make_shop(tmp_path / "database" / "shop" / "shop.sqlite")
    gold = tmp_path / "gold.sql"
    pred = tmp_path / "pred.sql"
    gold.write_text("".join(f"{g.split(chr(9))[0]}\tshop\n" for g, _, _ in LINES) + "SELECT 1\tabsent_db\n")
    pred.write_text("".join(f"{p}\n" for _, p, _ in LINES) + "SELECT 1\n")
    return tmp_path, gold, pred, db


def test_verdicts_per_line_and_the_summary(files, capsys):
    folder, gold, pred, db = files
    before = digest(db)
    out = folder / "verdicts.jsonl"
    status = main(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(folder / "database"),
                   "--out", str(out), "--timeout", "0.5"])
    assert status == 0
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["index"] for v in verdicts] == list(range(len(LINES) + 1))
    assert [v["reason"] for v in verdicts[:-1]] == [expected for _, _, expected in LINES]
    assert all(v["correct"] == (v["reason"] == "ok") for v in verdicts)
    assert all(v["error"] for v in verdicts if v["reason"] not in ("ok", "wrong_result"))
    assert verdicts[-1]["reason"] == "exec_error" and verdicts[-1]["error"].startswith("database not found")
    assert {"db_id", "hardness", "f1"} <= set(verdicts[0])
    assert digest(db) == before  # hostile predictions changed nothing
    assert sorted(p.name for p in db.parent.iterdir()) == ["shop.sqlite"]

    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].split() == ["easy", "medium", "hard", "extra", "all"]
    assert lines[1].split()[0] == "count" and lines[1].split()[-1] == str(len(LINES) + 1)
    assert "EXECUTION ACCURACY" in lines[2]
    n_ok = sum(expected == "ok" for _, _, expected in LINES)
    assert lines[3].split()[0] == "execution" and float(lines[3].split()[-1]) == pytest.approx(
        n_ok / (len(LINES) + 1), abs=1e-3)
    assert "database not found for 1 questions (absent_db)" in printed
    assert f"on the {len(LINES)} questions whose database exists: {n_ok / len(LINES):.3f}" in printed
    assert "per 1,000" in printed


def test_bird_protocol_and_exact_match(files, capsys):
    folder, gold, pred, _ = files
    out = folder / "bird.jsonl"
    main(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(folder / "database"), "--out", str(out),
          "--protocol", "bird", "--timeout", "0.2", "--exact-match"])
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert verdicts[0]["reason"] == "wrong_result"  # BIRD keeps the column order
    assert verdicts[3]["reason"] == "ok"  # and ignores duplicates
    assert verdicts[14]["em"] is True and verdicts[0]["em"] is False
    assert "EXACT MATCH" in capsys.readouterr().out


def test_compare_sequential_prints_both_times(files, capsys):
    folder, gold, pred, _ = files
    keep = [i for i, (_, _, expected) in enumerate(LINES) if expected != "timeout"]
    gold.write_text("".join(gold.read_text().splitlines(keepends=True)[i] for i in keep))
    pred.write_text("".join(pred.read_text().splitlines(keepends=True)[i] for i in keep))
    assert main(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(folder / "database"),
                 "--compare-sequential", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "sequential, uncached:" in printed and "same verdicts: True" in printed


def test_line_counts_must_agree(files, capsys):
    folder, gold, pred, _ = files
    pred.write_text("SELECT 1\n")
    assert main(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(folder / "database")]) == 2
    assert "must pair line by line" in capsys.readouterr().err


def test_flat_database_folders_work_too(tmp_path):
    make_shop(tmp_path / "dbs" / "shop.sqlite")
    (tmp_path / "gold.sql").write_text("SELECT count(*) FROM item\tshop\n")
    (tmp_path / "pred.sql").write_text("SELECT count(id) FROM item\n")
    out = tmp_path / "v.jsonl"
    main(["eval", "--gold", str(tmp_path / "gold.sql"), "--pred", str(tmp_path / "pred.sql"),
          "--db", str(tmp_path / "dbs"), "--out", str(out)])
    assert json.loads(out.read_text())["correct"] is True


def test_spider_dev_gold_as_predictions_scores_100_percent(tmp_path, capsys):
    if not (SPIDER / "dev_gold.sql").is_file():
        pytest.skip(f"Spider dev not found at {SPIDER} (set T2S_SPIDER_DIR): the acceptance run needs it")
    gold = SPIDER / "dev_gold.sql"
    pred = tmp_path / "pred.sql"
    pred.write_text("".join(line.split("\t")[0] + "\n" for line in gold.read_text().splitlines() if line.strip()))
    out = tmp_path / "verdicts.jsonl"
    assert main(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(SPIDER / "database"),
                 "--table", str(SPIDER / "tables.json"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    print(printed)
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    present = [v for v in verdicts if not v["error"].startswith("database not found")]
    missing = [v for v in verdicts if v["error"].startswith("database not found")]
    assert all(v["correct"] for v in present), [v for v in present if not v["correct"]][:3]
    # wta_1's database is not in the shared copy: its questions are exec_error, and reported apart.
    assert {v["db_id"] for v in missing} <= {"wta_1"}
    assert all(v["reason"] == "exec_error" for v in missing)
    assert f"on the {len(present)} questions whose database exists: 1.000" in printed or not missing


def test_a_folder_with_several_databases_per_db_id_is_a_suite(tmp_path, capsys):
    """The official test-suite layout: database/<db_id>/<db_id>*.sqlite, every file judges every line."""
    make_shop(tmp_path / "database" / "shop" / "shop.sqlite")
    variant = make_shop(tmp_path / "database" / "shop" / "shop_1.sqlite")
    conn = sqlite3.connect(variant)
    conn.execute("UPDATE item SET price = 100 WHERE id = 1")  # a row only `price > 40` reveals
    conn.commit()
    conn.close()
    gold, pred, out = tmp_path / "gold.sql", tmp_path / "pred.sql", tmp_path / "v.jsonl"
    gold.write_text("SELECT name FROM item WHERE price > 40 AND kind = 'tool'\tshop\n"
                    "SELECT count(*) FROM item\tshop\n")
    pred.write_text("SELECT name FROM item WHERE id > 27 AND kind = 'tool'\nSELECT count(id) FROM item\n")
    assert main(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp_path / "database"),
                 "--out", str(out), "--workers", "1"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["correct"], r["original_correct"]) for r in records] == [(False, True), (True, True)]
    assert "shop_1.sqlite" in records[0]["error"]
    printed = capsys.readouterr().out
    assert "0.500 on the suite, 1.000 on the original database alone; 1 predictions correct on the original" in printed


def test_suite_option_adds_the_generated_variants(tmp_path, capsys):
    from t2s_pipeline.sql.test_suite import SuiteConfig, generate_suites

    db = make_shop(tmp_path / "database" / "shop" / "shop.sqlite")
    golds = ["SELECT name FROM item WHERE price > 40 AND kind = 'tool'", "SELECT count(*) FROM item WHERE price < 9"]
    generate_suites([("shop", db, golds)], tmp_path / "suites", SuiteConfig(candidates=8), workers=1,
                    log=lambda _: None)
    gold, pred, out = tmp_path / "gold.sql", tmp_path / "pred.sql", tmp_path / "v.jsonl"
    gold.write_text("".join(f"{g}\tshop\n" for g in golds))
    # Right on the original (its prices are multiples of 1.5: none is 40, none in [8, 9)), wrong in general.
    pred.write_text("SELECT name FROM item WHERE price >= 40 AND kind = 'tool'\n"
                    "SELECT count(*) FROM item WHERE price < 8\n")
    args = ["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp_path / "database"), "--out", str(out),
            "--workers", "1"]
    assert main(args) == 0
    assert [json.loads(line)["correct"] for line in out.read_text().splitlines()] == [True, True]
    assert main(args + ["--suite", str(tmp_path / "suites")]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["correct"], r["original_correct"]) for r in records] == [(False, True), (False, True)]
    assert main(args + ["--suite", str(tmp_path / "nowhere")]) == 2


def test_suite_option_warns_per_database_without_variants_and_counts_the_questions_judged_on_the_original(
        tmp_path, capsys):
    from t2s_pipeline.sql.test_suite import SuiteConfig, generate_suites

    golds = ["SELECT name FROM item WHERE price > 40 AND kind = 'tool'", "SELECT count(*) FROM item WHERE price < 9"]
    shop = make_shop(tmp_path / "database" / "shop" / "shop.sqlite")
    make_shop(tmp_path / "database" / "market" / "market.sqlite")  # a database the suite folder has nothing for
    generate_suites([("shop", shop, golds)], tmp_path / "suites", SuiteConfig(candidates=8), workers=1,
                    log=lambda _: None)
    gold, pred, out = tmp_path / "gold.sql", tmp_path / "pred.sql", tmp_path / "v.jsonl"
    gold.write_text("".join(f"{g}\tshop\n" for g in golds) + "".join(f"{g}\tmarket\n" for g in golds * 2))
    pred.write_text("".join(f"{g}\n" for g in golds * 3))
    assert main(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(tmp_path / "database"),
                 "--suite", str(tmp_path / "suites"), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr()
    assert "has no variants for market: its 4 question(s) are judged on the original database alone" in printed.err
    assert "for shop" not in printed.err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    alone = sum("original_correct" not in r for r in records)
    assert alone >= 4 and [r["db_id"] for r in records if "original_correct" not in r].count("market") == 4
    assert f"{6 - alone} of 6 questions judged on several databases, {alone} on the original database alone" \
        in printed.out
