"""Speed benchmark of `t2s eval` where execution dominates (a script, not a timed test).

    python bench/eval_speed.py [--rows 1000000] [--pairs 200] [--dir DIR]
                                                      [--spider ../shared/benchmarks/spider]

Builds a SQLite database of `rows` events (plus a small users table) and `pairs` gold/prediction
lines whose queries scan an indexed range of days and aggregate (tens of milliseconds each). As in
Spider, each gold query is asked twice (two phrasings of one question), and the predictions mix
the gold text itself, correct rewrites (other column order, other formatting, equivalent filters)
and wrong queries. Then runs `t2s eval --compare-sequential`, which times the parallel, cached
evaluation and a sequential, uncached one of the same lines in the same run and prints both.
With --spider, also runs `t2s eval` on Spider dev with the gold queries as predictions and prints
its time per 1,000 predictions.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

KINDS = ("view", "click", "cart", "buy", "refund")
COUNTRIES = ("FR", "DE", "US", "JP", "BR", "IN", "NG", "CA")
DAYS = 3650


def build_database(path: Path, rows: int, seed: int = 0) -> Path:
    """events(id, user_id, kind, amount, day) with `rows` rows and a covering index on day; users(id, name, country)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.executescript(f"""
        PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, country TEXT);
        CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), kind TEXT,
                             amount REAL, day INTEGER);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
        INSERT INTO users SELECT i, 'user' || i,
            CASE i % 8 {' '.join(f"WHEN {k} THEN '{c}'" for k, c in enumerate(COUNTRIES))} END FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
        INSERT INTO events SELECT i, 1 + abs(random() % 10000),
            CASE abs(random() % 5) {' '.join(f"WHEN {k} THEN '{c}'" for k, c in enumerate(KINDS))} END,
            round(abs(random() % 100000) / 100.0, 2), abs(random() % {DAYS}) FROM n;
        CREATE INDEX events_day ON events(day, kind, user_id, amount);
    """)
    conn.commit()
    conn.close()
    return path


def make_pairs(n_pairs: int, seed: int = 0) -> list[tuple[str, str]]:
    """(gold, prediction) pairs: n_pairs / 2 gold queries, each asked twice, with varied predictions."""
    rng = random.Random(seed)
    pairs = []
    for q in range((n_pairs + 1) // 2):
        lo = rng.randrange(0, DAYS - 400)
        hi = lo + rng.randrange(40, 120)
        kind = rng.choice(KINDS)
        shape = q % 4
        if shape == 0:
            gold = f"SELECT kind, count(*), round(sum(amount), 2) FROM events WHERE day BETWEEN {lo} AND {hi} GROUP BY kind"
            right = [f"SELECT round(sum(amount), 2), count(*), kind FROM events WHERE day >= {lo} AND day <= {hi} GROUP BY kind",
                     f"select kind, count(id), round(sum(amount), 2) from events where day between {lo} and {hi} group by 1"]
            wrong = f"SELECT kind, count(*), round(sum(amount), 2) FROM events WHERE day BETWEEN {lo} AND {hi + 1} GROUP BY kind"
        elif shape == 1:
            gold = f"SELECT count(DISTINCT user_id) FROM events WHERE kind = '{kind}' AND day BETWEEN {lo} AND {hi}"
            right = [f"SELECT count(*) FROM (SELECT DISTINCT user_id FROM events WHERE day BETWEEN {lo} AND {hi} AND kind = '{kind}')"]
            wrong = f"SELECT count(user_id) FROM events WHERE kind = '{kind}' AND day BETWEEN {lo} AND {hi}"
        elif shape == 2:
            gold = (f"SELECT u.country, round(avg(e.amount), 3) FROM events AS e JOIN users AS u ON e.user_id = u.id "
                    f"WHERE e.day BETWEEN {lo} AND {hi} GROUP BY u.country ORDER BY u.country")
            right = [f"SELECT country, round(avg(amount), 3) FROM users JOIN events ON events.user_id = users.id "
                     f"WHERE day BETWEEN {lo} AND {hi} GROUP BY country ORDER BY 1"]
            wrong = (f"SELECT u.country, round(avg(e.amount), 3) FROM events AS e JOIN users AS u ON e.user_id = u.id "
                     f"WHERE e.day BETWEEN {lo} AND {hi} GROUP BY u.country ORDER BY u.country DESC")
        else:
            gold = (f"SELECT user_id, round(sum(amount), 2) AS total FROM events WHERE day BETWEEN {lo} AND {hi} "
                    f"GROUP BY user_id ORDER BY total DESC, user_id LIMIT 10")
            right = [f"SELECT user_id, round(sum(amount), 2) FROM events WHERE day BETWEEN {lo} AND {hi} "
                     f"GROUP BY user_id ORDER BY 2 DESC, 1 LIMIT 10"]
            wrong = (f"SELECT user_id, round(sum(amount), 2) AS total FROM events WHERE day BETWEEN {lo} AND {hi} "
                     f"GROUP BY user_id ORDER BY total LIMIT 10")
        for _ in range(2):  # two phrasings of the question, one gold query
            if len(pairs) == n_pairs:
                break
            roll = rng.random()
            pred = gold if roll < 0.4 else rng.choice(right) if roll < 0.8 else wrong
            pairs.append((gold, pred))
    return pairs


def write_files(folder: Path, rows: int, n_pairs: int) -> tuple[Path, Path, Path]:
    db_dir = folder / "database"
    build_database(db_dir / "events" / "events.sqlite", rows)
    pairs = make_pairs(n_pairs)
    gold, pred = folder / "gold.sql", folder / "pred.sql"
    gold.write_text("".join(f"{g}\tevents\n" for g, _ in pairs))
    pred.write_text("".join(f"{p}\n" for _, p in pairs))
    return gold, pred, db_dir


def main(argv: list[str] | None = None) -> int:
    from t2s_pipeline.cli import main as t2s

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--dir", help="where to build the database and the files (default: a temporary folder)")
    parser.add_argument("--spider", help="a Spider folder (dev_gold.sql, database/): also time gold-as-prediction")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        start = time.monotonic()
        gold, pred, db_dir = write_files(folder, args.rows, args.pairs)
        print(f"built {args.rows:,} rows and {args.pairs} pairs in {time.monotonic() - start:.1f} s")
        status = t2s(["eval", "--gold", str(gold), "--pred", str(pred), "--db", str(db_dir), "--compare-sequential"])
        if args.spider:
            root = Path(args.spider)
            spider_pred = folder / "spider_pred.sql"
            spider_pred.write_text("".join(line.split("\t", 1)[0] + "\n"
                                           for line in (root / "dev_gold.sql").read_text().splitlines() if line.strip()))
            print(f"\nSpider dev, the gold queries as predictions ({root}):")
            status |= t2s(["eval", "--gold", str(root / "dev_gold.sql"), "--pred", str(spider_pred),
                           "--db", str(root / "database")])
    return status


if __name__ == "__main__":
    raise SystemExit(main())
