"""Literal swapping: new (question, SQL) pairs from a train pair by replacing each literal that the
question states verbatim with another value, in both texts at once.

A small model trained on a few hundred pairs memorizes the SQL strings it saw, literals included; the
swapped copies teach it to take literals from the question instead. Only train pairs are swapped.
"""

from __future__ import annotations

import random
import re

from t2s_pipeline.sql.normalize import query_fingerprint

_STRING = re.compile(r"'((?:[^']|'')+)'")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?!\w|\.\d)")  # a sentence's full stop may follow


def copyable_literals(question: str, sql: str) -> list[str]:
    """The literals of the SQL (string contents and numbers) that appear verbatim in the question."""
    found = [m.group(1) for m in _STRING.finditer(sql)]
    found += [m.group(1) for m in _NUMBER.finditer(_STRING.sub("''", sql))]
    return [lit for lit in dict.fromkeys(found) if re.search(rf"(?<![\w.]){re.escape(lit)}(?!\w|\.\d)", question)]


def _other_number(text: str, rng: random.Random) -> str:
    whole, _, decimals = text.partition(".")
    low = 10 ** (len(whole) - 1) if len(whole) > 1 else 1
    value = str(rng.randint(low, 10 ** len(whole) - 1))
    return f"{value}.{''.join(rng.choice('0123456789') for _ in decimals)}" if decimals else value


def swap_literals(question: str, sql: str, strings: list[str], rng: random.Random) -> tuple[str, str] | None:
    """One swapped copy of the pair, or None when the question states none of the SQL's literals (or a
    string one and `strings` is empty).
    Strings are replaced by a value drawn from `strings` (other literals of the train SQL), numbers by a
    number with as many digits."""
    literals = copyable_literals(question, sql)
    if not literals or (not strings and any(f"'{lit}'" in sql for lit in literals)):
        return None
    for lit in literals:
        is_number = _NUMBER.fullmatch(lit) is not None and f"'{lit}'" not in sql
        new = _other_number(lit, rng) if is_number else rng.choice(strings)
        pattern = rf"(?<![\w.]){re.escape(lit)}(?!\w|\.\d)"
        question = re.sub(pattern, lambda _: new, question)
        sql = re.sub(pattern if is_number else re.escape(f"'{lit}'"),
                     lambda _: new if is_number else "'" + new.replace("'", "''") + "'", sql)
    return question, sql


def string_literals(sqls: list[str]) -> list[str]:
    """Every distinct string literal of the given SQL, in first-seen order (the pool swaps draw from)."""
    return list(dict.fromkeys(m.group(1) for sql in sqls for m in _STRING.finditer(sql)))


def pair_keys(question: str, sql: str) -> set[str]:
    """The normalized question and the normalized SQL of a pair: a swapped copy that matches a held-out
    question or query on either must be left out of anything trained on."""
    return {"q:" + " ".join(question.lower().split()), "s:" + query_fingerprint(sql)}
