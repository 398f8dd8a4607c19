"""split_by_question: one split per id, deterministic per seed, stratified per database, fractions checked;
questions sharing a normalized question or SQL stay in one split, so nothing held out leaks into train."""

from __future__ import annotations

from collections import Counter

import pytest

from t2s_pipeline.samples.splits import SPLITS, leakage, normalized_question, split_by_question, text_keys
from t2s_pipeline.sql.normalize import query_fingerprint

FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def records(sizes: dict[str, int]) -> list[dict]:
    return [{"id": f"bench/train/{db}-{i}", "db_id": db} for db, n in sizes.items() for i in range(n)]


SIZES = {"shop": 30, "school": 20, "flights": 10, "tiny_db": 3}


def test_every_id_goes_to_exactly_one_split():
    recs = records(SIZES)
    assignment = split_by_question(recs, FRACTIONS, seed=0)
    assert set(assignment) == {r["id"] for r in recs}
    assert set(assignment.values()) <= set(SPLITS)
    assert sum(Counter(assignment.values()).values()) == len(recs)


def test_same_seed_same_split_and_other_seed_another():
    recs = records(SIZES)
    first = split_by_question(recs, FRACTIONS, seed=7)
    # Input order must not matter either: the split is by id, not by position.
    again = split_by_question(list(reversed(recs)), FRACTIONS, seed=7)
    other = split_by_question(recs, FRACTIONS, seed=8)
    assert first == again
    assert first != other
    # Another seed reshuffles but keeps the per-split sizes.
    assert Counter(first.values()) == Counter(other.values())


def test_stratified_per_database():
    recs = records(SIZES)
    assignment = split_by_question(recs, FRACTIONS, seed=0)
    per_db: dict[str, Counter] = {db: Counter() for db in SIZES}
    for r in recs:
        per_db[r["db_id"]][assignment[r["id"]]] += 1
    for db, n in SIZES.items():
        if n >= 10:
            assert per_db[db]["test"] >= 1, db
            assert per_db[db]["dev"] >= 1, db
            assert per_db[db]["test"] == round(n * 0.1), db
            assert per_db[db]["dev"] == round(n * 0.1), db
        assert sum(per_db[db].values()) == n


def test_duplicate_ids_are_assigned_once():
    recs = records({"shop": 10}) + records({"shop": 10})
    assignment = split_by_question(recs, FRACTIONS, seed=0)
    assert len(assignment) == 10
    assert Counter(assignment.values())["test"] == 1


@pytest.mark.parametrize("fractions", [
    {"train": 0.8, "dev": 0.1, "test": 0.2},       # sums to 1.1
    {"train": 0.5, "dev": 0.1, "test": 0.1},       # sums to 0.7
    {"train": 0.8, "valid": 0.1, "test": 0.1},     # unknown split name
    {},
])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="split fractions"):
        split_by_question(records({"shop": 10}), fractions)


def test_negative_fractions_are_rejected():
    with pytest.raises(ValueError):
        split_by_question(records({"shop": 10}), {"train": -0.2, "dev": 0.6, "test": 0.6})


def keyed(db_id: str, record_id: str, question: str, sql: str) -> dict:
    return {"id": record_id, "db_id": db_id, "keys": text_keys(db_id, question, sql)}


def test_question_normalization():
    assert normalized_question("  How MANY\tsingers  are there?! ") == "how many singers are there"
    assert normalized_question("What is 3.5?") == normalized_question("what is 3.5") == "what is 3.5"


def test_sql_normalization_ignores_spelling_not_meaning():
    same = ['SELECT T1.name FROM singer AS T1 WHERE country = "France" AND age != 3;',
            "select t1.NAME from Singer t1\n where Country = 'France' and age <> 3"]
    assert query_fingerprint(same[0]) == query_fingerprint(same[1])
    lower_string = "SELECT T1.name FROM singer AS T1 WHERE country = 'france' AND age != 3"
    assert query_fingerprint(lower_string) == query_fingerprint(same[1])  # string case does not count either
    assert query_fingerprint(lower_string.replace("france", "Spain")) != query_fingerprint(same[1])
    assert query_fingerprint("SELECT 1 FROM t WHERE a > 2") != query_fingerprint("SELECT 1 FROM t WHERE a > 3")
    assert query_fingerprint("SELECT 'unclosed") == "select 'unclosed"  # the tokenizer refuses it: plain text


def paraphrase_records(n_sql: int, per_sql: int, db_id: str = "shop") -> list[dict]:
    """n_sql queries, each asked per_sql ways; plus one question asked twice with two SQL spellings."""
    records = [keyed(db_id, f"b/train/{db_id}-{k}-{j}", f"Question {j} about amounts over {k}?",
                     f"SELECT count(*) FROM orders WHERE amount > {k}")
               for k in range(n_sql) for j in range(per_sql)]
    records.append(keyed(db_id, f"b/train/{db_id}-x1", "How many orders?", "SELECT count(*) FROM orders"))
    records.append(keyed(db_id, f"b/train/{db_id}-x2", "how many  orders", "SELECT COUNT(id) FROM orders"))
    return records


def test_shared_sql_or_question_never_crosses_from_held_out_into_train():
    recs = paraphrase_records(40, 3) + paraphrase_records(15, 4, db_id="school")
    for seed in range(5):
        assignment = split_by_question(recs, FRACTIONS, seed=seed)
        by_key: dict[int, set] = {}
        for r in recs:
            for key in r["keys"]:
                by_key.setdefault(key, set()).add(assignment[r["id"]])
        assert all(len(splits) == 1 for splits in by_key.values())  # one split per shared text
        assert leakage(recs, assignment) == {s: {"question": 0, "sql": 0, "either": 0} for s in ("dev", "test")}
        assert assignment["b/train/shop-x1"] == assignment["b/train/shop-x2"]  # same question, other SQL
        counts = Counter(assignment.values())
        assert abs(counts["test"] - 0.1 * len(recs)) <= 6 and abs(counts["dev"] - 0.1 * len(recs)) <= 6, counts
    assert split_by_question(recs, FRACTIONS, seed=1) == split_by_question(list(reversed(recs)), FRACTIONS, seed=1)


def test_a_plain_split_of_paraphrases_leaks_and_leakage_counts_it():
    recs = paraphrase_records(40, 3)
    plain = split_by_question([{"id": r["id"], "db_id": r["db_id"]} for r in recs], FRACTIONS, seed=0)
    leaked = leakage(recs, plain)
    assert leaked["test"]["sql"] > 0 and leaked["test"]["either"] >= leaked["test"]["sql"]
    # Counted by hand: test questions whose SQL key a train question has.
    train_sql = {r["keys"][1] for r in recs if plain[r["id"]] == "train"}
    assert leaked["test"]["sql"] == sum(plain[r["id"]] == "test" and r["keys"][1] in train_sql for r in recs)


def test_without_shared_texts_the_split_is_the_plain_one():
    recs = [keyed(db, r["id"], f"question {r['id']}", f"SELECT {i}") for i, r in enumerate(records(SIZES))
            for db in [r["db_id"]]]
    plain = split_by_question([{"id": r["id"], "db_id": r["db_id"]} for r in recs], FRACTIONS, seed=4)
    assert split_by_question(recs, FRACTIONS, seed=4) == plain
