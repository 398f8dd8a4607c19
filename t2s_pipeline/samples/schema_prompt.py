"""The schema text of a prompt, cut to a token budget.

Real databases (BIRD, SynSQL) have schemas longer than a training context. Over the budget, a
prompt keeps the tables the gold query uses (training samples only: a held-out prompt must not be
told the answer's tables), then the tables most relevant to the question: the most words shared
with their table and column names. Tables stay in schema order. Tables come before example
values: the values are shown only if they fit with every kept table. The gold tables are never
dropped, even over budget.

Tokens are estimated (CHARS_PER_TOKEN characters a token): trajectories are built before the
tokenizer exists, since base_model reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from t2s_pipeline.sql.schema import schema_text

CHARS_PER_TOKEN = 3.5  # a rough figure for BPE code tokenizers on DDL: leave the budget some margin
_WORD = re.compile(r"[a-z0-9]+")


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN + 0.5)


def _words(text: str) -> set[str]:
    """Lower-case words, snake_case and camelCase split, a plural `s` dropped."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower().replace("_", " ")
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _WORD.findall(text)}


def relevance(table: dict, question: str) -> int:
    """How many of the question's words name the table or one of its columns."""
    names = _words(table["name"]) | {w for col in table["columns"] for w in _words(col["name"])}
    return len(_words(question) & names)


@dataclass
class FittedSchema:
    text: str
    tables: int  # tables kept
    of: int  # tables in the schema
    values: bool  # sample values kept
    over_budget: bool  # the gold tables alone did not fit


def fit_schema(schema: dict, budget: int, question: str, required: list[str] = (),
               values: dict | None = None) -> FittedSchema:
    """The schema text within `budget` estimated tokens (0: no budget); see the module docstring."""
    tables = schema["tables"]
    full = schema_text(schema, values)
    if not budget or estimate_tokens(full) <= budget:
        return FittedSchema(full, len(tables), len(tables), bool(values), False)
    required_names = {name.lower() for name in required}
    ranked = sorted(range(len(tables)), key=lambda i: (tables[i]["name"].lower() not in required_names,
                                                       -relevance(tables[i], question), i))
    kept = [i for i in ranked if tables[i]["name"].lower() in required_names]
    for i in ranked[len(kept):]:
        if estimate_tokens(_text(tables, kept + [i], None)) <= budget:
            kept.append(i)
    with_values = _text(tables, kept, values) if values else ""
    if with_values and estimate_tokens(with_values) <= budget:
        return FittedSchema(with_values, len(kept), len(tables), True, False)
    text = _text(tables, kept, None)
    return FittedSchema(text, len(kept), len(tables), False, estimate_tokens(text) > budget)


def _text(tables: list[dict], indices: list[int], values: dict | None) -> str:
    return schema_text({"tables": [tables[i] for i in sorted(indices)]}, values)
