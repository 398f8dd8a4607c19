"""Schema text with example values, cut to a token budget that keeps the gold tables, then the relevant ones."""

from __future__ import annotations

import sqlite3

from t2s_pipeline.samples.schema_prompt import estimate_tokens, fit_schema, relevance
from t2s_pipeline.sql.schema import read_sqlite_schema, sample_values, schema_text


def table(name: str, *columns: str) -> dict:
    return {"name": name, "columns": [{"name": c, "type": "TEXT"} for c in columns], "primary_key": [],
            "foreign_keys": []}


SCHEMA = {"db_id": "shop", "tables": [
    table("customer", "id", "name", "city"),
    table("orders", "id", "customer_id", "amount"),
    table("product", "id", "title", "price"),
    table("warehouse_stock", "product_id", "warehouseCity", "quantity"),
    table("employee", "id", "name", "salary"),
]}


def names(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines()]


def test_relevance_counts_question_words_naming_the_table_or_its_columns():
    assert relevance(SCHEMA["tables"][3], "What quantity is in stock per warehouse city?") == 4
    assert relevance(SCHEMA["tables"][4], "How many orders?") == 0
    assert relevance(SCHEMA["tables"][1], "List all orders") == 1  # plural `orders` and `order` alike


def test_a_schema_within_budget_is_whole():
    fitted = fit_schema(SCHEMA, 10_000, "anything")
    assert fitted.text == schema_text(SCHEMA) and (fitted.tables, fitted.of, fitted.over_budget) == (5, 5, False)


def test_over_budget_the_gold_tables_come_first_then_the_relevant_ones_in_schema_order():
    t = SCHEMA["tables"]
    budget = estimate_tokens(schema_text({"tables": [t[1], t[2], t[4]]}))
    fitted = fit_schema(SCHEMA, budget, "Which product has the highest price?", required=["employee", "orders"])
    assert names(fitted.text) == ["orders", "product", "employee"]
    assert estimate_tokens(fitted.text) <= budget and not fitted.over_budget


def test_a_held_out_prompt_gets_the_most_relevant_tables_only():
    budget = estimate_tokens(schema_text({"tables": SCHEMA["tables"][4:]}))
    fitted = fit_schema(SCHEMA, budget, "What is the salary of the employee named Ann?")
    assert names(fitted.text) == ["employee"] and fitted.tables < fitted.of


def test_gold_tables_are_kept_even_over_budget():
    fitted = fit_schema(SCHEMA, 5, "How many?", required=["warehouse_stock"])
    assert names(fitted.text) == ["warehouse_stock"] and fitted.over_budget


def shop_db(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE "order" (id INTEGER PRIMARY KEY, "first name" TEXT, note TEXT, blob BLOB)')
    rows = [(1, "Ann", "it's long " * 10, b"\x00"), (2, "Ann", None, None), (3, "Bob", "x", None),
            (4, "Cid", "y", None)]
    conn.executemany('INSERT INTO "order" VALUES (?, ?, ?, ?)', rows)
    conn.commit()
    return conn


def test_sample_values_are_distinct_non_null_and_cut(tmp_path):
    conn = shop_db(tmp_path / "shop.sqlite")
    schema = read_sqlite_schema(tmp_path / "shop.sqlite")
    values = sample_values(conn, schema, per_column=2, max_chars=12)
    assert values["order"]["first name"] == ["Ann", "Bob"]
    assert values["order"]["note"] == ["it's long it", "x"]
    assert values["order"]["blob"] == []  # bytes are not shown
    text = schema_text(schema, values)
    # Identifiers quoted where SQLite needs it, string values as SQL literals.
    assert text.startswith('CREATE TABLE "order" (id INTEGER PRIMARY KEY /* e.g. 1, 2 */, "first name" TEXT '
                           "/* e.g. 'Ann', 'Bob' */, note TEXT /* e.g. 'it''s long it', 'x' */, blob BLOB);")


def test_values_go_before_tables_when_the_kept_tables_do_not_fit_with_them():
    values = {"orders": {"amount": [1.5, 2.5, 99.25]}, "product": {"title": ["a very long product title"] * 3}}
    budget = estimate_tokens(schema_text({"tables": SCHEMA["tables"][1:3]})) + 1
    fitted = fit_schema(SCHEMA, budget, "price of a product", required=["orders"], values=values)
    assert names(fitted.text) == ["orders", "product"] and not fitted.values and "e.g." not in fitted.text


def test_trajectories_cut_train_prompts_around_the_gold_tables(tmp_path):
    from t2s_pipeline.records import read_jsonl, write_json, write_jsonl
    from t2s_pipeline.samples.trajectories import build_trajectories

    # Ten distinct questions and queries: the split keeps shared ones together.
    pairs = [{"id": f"shop/train/{i}", "benchmark": "shop", "db_id": "shop", "question": f"How many employees ({i})?",
              "gold_sql": f"SELECT count(*) + {i} FROM warehouse_stock", "evidence": ""} for i in range(10)]
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    write_json(tmp_path / "schemas.json", {"shop": SCHEMA})
    budget = estimate_tokens(schema_text({"tables": SCHEMA["tables"][:1]})) + 2
    stats = build_trajectories(tmp_path, tmp_path, tmp_path / "out", schema_token_budget=budget,
                               fractions={"train": 0.8, "dev": 0.0, "test": 0.2})
    train = list(read_jsonl(tmp_path / "out" / "train.jsonl"))
    test = list(read_jsonl(tmp_path / "out" / "test.jsonl"))
    assert all("warehouse_stock" in s["messages"][1]["content"] for s in train)
    assert all("warehouse_stock" not in s["messages"][1]["content"] and "employee" in s["messages"][1]["content"]
               for s in test)
    assert stats["schema_prompts"] == {"token_budget": budget, "pairs": 10, "cut": 10, "over_budget": 8}
