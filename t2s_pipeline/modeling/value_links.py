"""Value linking for the grammar: the spans of a question that are text values of a column.

As BRIDGE does (Lin et al., 2020): a span of the question (from a word's start to a word's end, at most
MAX_SPAN_WORDS words) that equals, case-insensitively, a stored text value of a column links that value
to that column. The grammar then compares the column with `=` only to its linked values (sql_grammar.py).
Values are read once per database (the SQLite file opened read-only); links once per question.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

MAX_SPAN_WORDS = 8
CLOSERS = (")", "+")  # a span may end with one after its last word: 'amc hornet sportabout (sw)', blood type 'AB+'


def column_values(db_path: str | Path, tables: dict[str, list[str]], per_column: int = 5000,
                  max_length: int = 80) -> dict[str, dict[str, set[str]]]:
    """column name (lowercase) -> value (lowercase) -> the values as stored: the distinct short text values
    of every column (at most per_column of each), merged across tables for columns of the same name."""
    quote = lambda name: '"' + name.replace('"', '""') + '"'
    found: dict[str, dict[str, set[str]]] = {}
    conn = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    try:
        for table, columns in tables.items():
            for column in columns:
                rows = conn.execute(
                    f"SELECT DISTINCT {quote(column)} FROM {quote(table)} WHERE typeof({quote(column)}) = 'text' "
                    f"AND length({quote(column)}) BETWEEN 1 AND ? LIMIT ?", (max_length, per_column))
                by_lower = found.setdefault(column.lower(), {})
                for (value,) in rows:
                    by_lower.setdefault(value.strip().lower(), set()).add(value)
    finally:
        conn.close()
    return found


def question_spans(question: str, max_words: int = MAX_SPAN_WORDS) -> dict[str, set[str]]:
    """The question's spans of 1 to max_words words (with a `)` that closes the last word, as in 'amc hornet
    sportabout (sw)'), and each with its last word cut by 1 to 3 letters where 3 or more remain ('Asia' for
    "Asian", 'cat' for "cats"): lowercased -> as written."""
    words = list(re.finditer(r"\w+", question))
    spans: dict[str, set[str]] = {}
    for i, first in enumerate(words):
        for last in words[i:i + max_words]:
            ends = [last.end()] + ([last.end() + 1] if question[last.end():last.end() + 1] in CLOSERS else [])
            ends += [last.end() - cut for cut in (1, 2, 3) if last.end() - cut - last.start() >= 3]
            for end in ends:
                text = question[first.start():end]
                spans.setdefault(text.lower(), set()).add(text)
    return spans


def linked_values(question: str, values: dict[str, dict[str, set[str]]]) -> dict[str, list[str]]:
    """column -> the values the question states for it (as stored, and as the question writes them)."""
    spans = question_spans(question)
    links: dict[str, list[str]] = {}
    for column, by_lower in values.items():
        hits = set()
        for span, written in spans.items():
            if span in by_lower:
                hits |= by_lower[span] | written
        if hits:
            links[column] = sorted(hits)
    return links


FUNCTION_WORDS = frozenset("a an and are as at by for from in is it its of on or the their to with".split())
NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                "eight": "8", "nine": "9", "ten": "10"}
_ANCHORED = re.compile(r"\b(starts?|starting|begins?|beginning|ends?|ending)\s+with\s+(?:the\s+)?"
                       r"(?:letters?\s+|word\s+)?", re.I)


@dataclass(frozen=True)
class QuestionLiterals:
    """The literals a question allows, as the hand rules (constrained.py) define them, for the grammar:
    strings (the values the question states, else its spans), LIKE patterns (a span with `%` at one or both
    ends that matches some value), numbers (those it states, 0, 1, number words) and the order words it
    rules out (ASC where it asks for descending order alone, DESC for ascending)."""

    strings: tuple[str, ...]
    patterns: tuple[str, ...]
    numbers: tuple[str, ...]
    refused_words: tuple[str, ...] = ()
    values_stated: bool = False  # strings are the values the question states (else any of its spans)


def question_literals(question: str, values: dict[str, dict[str, set[str]]]) -> QuestionLiterals:
    """The question's literals, with the database's text values (column_values) for value linking."""
    words = list(re.finditer(r"\w+", question))
    ends = {w.end() for w in words} | {w.end() + 1 for w in words if question[w.end():w.end() + 1] in CLOSERS}
    spans = set()
    for i, first in enumerate(words):
        last = words[min(i + MAX_SPAN_WORDS, len(words)) - 1].end() + 1
        spans |= {question[first.start():e] for e in ends if first.start() < e <= last}
    stored = {v for by_lower in values.values() for vs in by_lower.values() for v in vs}
    lowered = {v.lower() for v in stored}
    value_spans = {s for s in spans if s.lower() in lowered}
    anchored = {s: "start" if m.group(1)[0] in "sSbB" else "end"
                for m in _ANCHORED.finditer(question) for s in spans if question.startswith(s, m.end())}
    lines = "\n" + "\n".join(sorted(stored)) + "\n"
    forms = {"start": lambda s: (f"{s}%", f"\n{s}"), "end": lambda s: (f"%{s}", f"{s}\n"),
             "any": lambda s: (f"%{s}%", s)}
    patterns = {}
    for s in spans:
        if s.lower() not in FUNCTION_WORDS or s in anchored:  # "starts with A": 'A%', though "a" is a word
            for kind in ([anchored[s]] if s in anchored else forms):
                pattern, probe = forms[kind](s)
                patterns[pattern] = probe
    matching = sorted(p for p, probe in patterns.items() if probe in lines) or sorted(patterns)
    numbers = set(re.findall(r"\d+(?:\.\d+)?", question)) | {"0", "1"}
    numbers |= {d for w, d in NUMBER_WORDS.items() if re.search(rf"\b{w}\b", question, re.I)}
    # "at least 3" is also written `> 2`, "at most 3" `< 4` (one off only there: a small model given n - 1 and n + 1
    # everywhere wrote `< 1919` for "under 1920")
    for m in re.finditer(r"\bat (least|most) (\w+)", question, re.I):
        n = NUMBER_WORDS.get(m.group(2).lower(), m.group(2))
        if n.isdigit():
            numbers.add(str(int(n) + (-1 if m.group(1).lower() == "least" else 1)))
    asc, desc = (re.search(rf"\b{w}\b", question, re.I) is not None for w in ("ascending", "descending"))
    refused = ("asc",) if desc and not asc else ("desc",) if asc and not desc else ()
    return QuestionLiterals(tuple(sorted(value_spans or spans)), tuple(matching), tuple(sorted(numbers)), refused,
                            bool(value_spans))
