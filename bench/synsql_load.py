"""Load a SynSQL-2.5M-sized data.json through raw_benchmarks' writer: rows per second and peak memory.

    .venv/bin/python bench/synsql_load.py [--rows 2500000] [--dbs 8] [--cot-only]

Writes a synthetic SynSQL-format folder under /tmp (data.json as one JSON array, written record by
record; tables.json; databases/<db_id>/<db_id>.sqlite), loads it with load_synsql and
write_raw_benchmarks (examples.jsonl written while data.json is read), prints rows per second and
the peak resident memory of the load against the 2 GB target, and deletes the folder. The text
lengths follow SynSQL's: questions of one or two sentences, a few hundred characters of SQL, external
knowledge on a third of the rows, a chain of thought of 700 to 3,400 characters. A few rows
are broken on purpose (no cot, unknown database, SQL that does not parse, an exact duplicate) so the
rejects are exercised.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from t2s_pipeline.benchmarks.raw import write_raw_benchmarks
from t2s_pipeline.benchmarks.synsql import load_synsql

TARGET_RSS_MB = 2048

SCHEMA = """
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, city TEXT, signup_date TEXT);
CREATE TABLE products (product_id INTEGER PRIMARY KEY, title TEXT, category TEXT, price REAL);
CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(customer_id),
                     order_date TEXT, amount REAL, status TEXT);
CREATE TABLE order_items (item_id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(order_id),
                          product_id INTEGER REFERENCES products(product_id), quantity INTEGER);
"""
TABLES = {
    "customers": [("customer_id", "number"), ("name", "text"), ("city", "text"), ("signup_date", "time")],
    "products": [("product_id", "number"), ("title", "text"), ("category", "text"), ("price", "number")],
    "orders": [("order_id", "number"), ("customer_id", "number"), ("order_date", "time"), ("amount", "number"),
               ("status", "text")],
    "order_items": [("item_id", "number"), ("order_id", "number"), ("product_id", "number"), ("quantity", "number")],
}
SQL = [
    "SELECT c.name, COUNT(o.order_id) AS order_count FROM customers c JOIN orders o ON c.customer_id = o.customer_id "
    "WHERE o.amount > {n} GROUP BY c.name ORDER BY order_count DESC LIMIT 10;",
    "WITH recent AS (SELECT customer_id, SUM(amount) AS total FROM orders WHERE order_date >= '2023-{m:02d}-01' "
    "GROUP BY customer_id) SELECT c.name, c.city, r.total FROM customers c INNER JOIN recent r "
    "ON c.customer_id = r.customer_id WHERE r.total > {n} ORDER BY r.total DESC;",
    "SELECT p.category, AVG(i.quantity * p.price) AS avg_value, COUNT(DISTINCT i.order_id) AS orders "
    "FROM products p JOIN order_items i ON p.product_id = i.product_id GROUP BY p.category HAVING COUNT(*) > {n};",
    "SELECT o.status, COUNT(*) FROM orders o WHERE o.order_date BETWEEN '2022-{m:02d}-01' AND '2023-{m:02d}-28' "
    "AND o.customer_id IN (SELECT customer_id FROM customers WHERE city = 'City {n}') GROUP BY o.status;",
]
QUESTIONS = [
    "Which customers placed the most orders worth more than {n} dollars, and how many orders did each place?",
    "For customers who spent more than {n} since month {m} of 2023, what are their names, cities and totals?",
    "What is the average order value per product category among categories with more than {n} sold items?",
    "How many orders of each status were placed between month {m} of 2022 and 2023 by customers in City {n}?",
]
KNOWLEDGE = "Order value refers to quantity * price; a recent order is one placed on or after the given month."
COT_SENTENCES = [
    "First, identify the tables that hold the information the question asks for.",
    "The customers table gives the names and cities, and orders links each order to its customer.",
    "We need to aggregate the amounts per customer, so a GROUP BY over customer_id is required.",
    "A common table expression keeps the aggregation readable and lets us filter on the total afterwards.",
    "Joining order_items to products gives the price of every item, which multiplied by the quantity is its value.",
    "Finally, the results are ordered by the aggregated value in descending order, as the question asks.",
    "We must be careful to count distinct orders, because an order can contain several items.",
    "The date filter compares ISO-formatted strings, which sort in the same order as the dates themselves.",
]


def write_databases(root: Path, db_ids: list[str]) -> None:
    for i, db_id in enumerate(db_ids):
        path = root / "databases" / db_id / f"{db_id}.sqlite"
        path.parent.mkdir(parents=True)
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                         [(c, f"Customer {c}", f"City {c % 20}", f"2022-0{1 + c % 9}-01") for c in range(50 + i)])
        conn.commit()
        conn.close()
    entries = []
    for db_id in db_ids:  # Spider's tables.json format
        columns = [[-1, "*"]] + [[t, name] for t, cols in enumerate(TABLES.values()) for name, _ in cols]
        entries.append({
            "db_id": db_id, "table_names_original": list(TABLES), "table_names": list(TABLES),
            "column_names_original": columns, "column_names": columns,
            "column_types": ["text"] + [kind for cols in TABLES.values() for _, kind in cols],
            "primary_keys": [1, 5, 9, 14], "foreign_keys": [[10, 1], [15, 9], [16, 5]],
        })
    (root / "tables.json").write_text(json.dumps(entries, indent=2))


def synthetic_record(n: int, db_ids: list[str]) -> dict:
    """Row n; deterministic, so two runs of the same size load the same file. Each row asks its own
    question with its own SQL, except that one row in 10,007 repeats the row before it (a `duplicate`)."""
    if n % 10007 == 5:
        n -= 1
    kind, m, value = n % len(SQL), 1 + n % 12, 10 + n
    cot_length = 8 + (n * 7) % 33  # 8 to 40 sentences: about 700 to 3,400 characters
    cot = " ".join(COT_SENTENCES[(n + k) % len(COT_SENTENCES)] for k in range(cot_length))
    db_id = db_ids[n % len(db_ids)]
    sql = SQL[kind].format(n=value, m=m)
    if n % 997 == 0:
        cot = ""  # rejected as no_cot with --cot-only
    if n % 4999 == 0:
        db_id = "not_shipped"  # missing_database
    if n % 9973 == 0:
        sql = "SELEC " + sql  # gold_parse_error
    return {
        "db_id": db_id, "sql_complexity": ("Simple", "Moderate", "Complex", "Highly Complex")[kind],
        "question_style": ("Formal", "Colloquial", "Imperative", "Interrogative")[n % 4],
        "question": QUESTIONS[kind].format(n=value, m=m),
        "external_knowledge": KNOWLEDGE if n % 3 == 0 else "",
        "cot": cot, "sql": sql,
    }


def write_data_json(path: Path, rows: int, db_ids: list[str]) -> None:
    """A JSON array written record by record: memory stays flat however many rows."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        for n in range(rows):
            f.write(("" if n == 0 else ",\n") + json.dumps(synthetic_record(n, db_ids), indent=4))
        f.write("\n]\n")


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark (VmHWM) so the peak covers the load only; False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_500_000, help="rows of data.json (SynSQL-2.5M: 2,500,000)")
    parser.add_argument("--dbs", type=int, default=8, help="databases the rows are spread over")
    parser.add_argument("--cot-only", action="store_true", help="load with cot_only (rows without cot rejected)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="synsql_load_", dir="/tmp"))
    try:
        root, out = tmp / "synsql", tmp / "raw"
        db_ids = [f"shop_{i}" for i in range(args.dbs)]
        start = time.monotonic()
        write_databases(root, db_ids)
        write_data_json(root / "data.json", args.rows, db_ids)
        size_gb = (root / "data.json").stat().st_size / 1e9
        print(f"data.json: {args.rows:,} rows, {size_gb:.2f} GB, written in {time.monotonic() - start:.1f} s")

        exact_peak = reset_peak_rss()
        rss_before = peak_rss_mb()
        start = time.monotonic()
        stats = write_raw_benchmarks([load_synsql(root, cot_only=args.cot_only)], out)
        seconds = time.monotonic() - start
        peak = peak_rss_mb()

        print(f"loaded: input {stats['input']:,} = kept {stats['kept']:,} + rejected {stats['rejected']:,} "
              f"{stats['rejects_by_reason']}; {stats['databases']} databases; "
              f"examples.jsonl {(out / 'examples.jsonl').stat().st_size / 1e9:.2f} GB")
        print(f"load time: {seconds:.1f} s, {stats['input'] / seconds:,.0f} rows/s")
        scope = "during the load" if exact_peak else f"whole process (was {rss_before:.0f} MB before the load)"
        verdict = "OK" if peak < TARGET_RSS_MB else "OVER TARGET"
        print(f"peak RSS {scope}: {peak:,.0f} MB (target < {TARGET_RSS_MB} MB): {verdict}")
        return 0 if peak < TARGET_RSS_MB and stats["input"] == args.rows else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
