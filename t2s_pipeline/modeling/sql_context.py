"""What one question's SQL may draw on, for constrained decoding: the literals its question states (numbers,
spans, the database values it links to, LIKE patterns) and its database's tables and columns."""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field

# Words outside literals a query may use besides the schema: SQLite's keywords and functions, and
# the pipe-syntax operators (GoogleSQL).
SQL_WORDS = frozenset("""
SELECT FROM WHERE JOIN ON AS AND OR NOT IN LIKE GLOB BETWEEN IS NULL GROUP BY ORDER HAVING LIMIT OFFSET DESC ASC
DISTINCT ALL UNION INTERSECT EXCEPT CASE WHEN THEN ELSE END EXISTS LEFT RIGHT FULL INNER OUTER CROSS NATURAL USING
CAST WITH RECURSIVE OVER PARTITION WINDOW ROWS RANGE GROUPS PRECEDING FOLLOWING CURRENT ROW UNBOUNDED FILTER ESCAPE
COLLATE NOCASE TRUE FALSE VALUES
COUNT SUM AVG MIN MAX TOTAL GROUP_CONCAT ROUND ABS LENGTH UPPER LOWER SUBSTR SUBSTRING INSTR REPLACE TRIM LTRIM RTRIM
IFNULL NULLIF COALESCE IIF TYPEOF PRINTF RANDOM DATE TIME DATETIME JULIANDAY STRFTIME
RANK DENSE_RANK ROW_NUMBER NTILE LAG LEAD FIRST_VALUE LAST_VALUE PERCENT_RANK CUME_DIST
INTEGER INT REAL TEXT FLOAT NUMERIC
AGGREGATE EXTEND SET DROP RENAME TABLESAMPLE PIVOT UNPIVOT CALL
""".split())


def _prefixes(words) -> frozenset[str]:
    return frozenset(w[:k] for w in words for k in range(1, len(w) + 1))




_SQL_WORD_PREFIXES = _prefixes(SQL_WORDS)


_ALIAS = re.compile(r"T\d+", re.I)


# Words that are never a LIKE pattern's text on their own ('%of%' matches half of any column).
FUNCTION_WORDS = frozenset("a an and are as at by for from in is it its of on or the their to with".split())


NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                "eight": "8", "nine": "9", "ten": "10"}


_ANCHORED_SPAN = re.compile(r"\b(starts?|starting|begins?|beginning|ends?|ending)\s+with\s+(?:the\s+)?"
                            r"(?:letters?\s+|word\s+)?", re.I)


MAX_SPAN_WORDS = 8  # value linking looks at question spans of up to this many words


@dataclass
class SqlContext:
    """What one question's SQL may draw on: the question text (with its evidence) and its database's
    tables with their columns."""

    question: str
    tables: dict[str, list[str]]
    values: frozenset[str] = frozenset()  # the database's text values (empty: not read)
    _starts: list[str] = field(init=False, repr=False)
    _value_spans: list[str] = field(init=False, repr=False)
    _patterns: list[str] = field(init=False, repr=False)
    _numbers: set[str] = field(init=False, repr=False)
    _names: frozenset[str] = field(init=False, repr=False)
    _name_prefixes: frozenset[str] = field(init=False, repr=False)
    _refused: frozenset[str] = field(init=False, repr=False)  # SQL words the question rules out
    _word_prefixes: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self):
        self._starts = sorted(self.question[m.start():] for m in re.finditer(r"(?<!\w)\w", self.question))
        self._numbers = set(re.findall(r"\d+(?:\.\d+)?", self.question)) | {"0", "1"}
        self._numbers |= {d for w, d in NUMBER_WORDS.items() if re.search(rf"\b{w}\b", self.question, re.I)}
        self._names = frozenset(n.lower() for t, cols in self.tables.items() for n in (t, *cols))
        self._refused = _contrary_order(self.question)
        self._word_prefixes = _prefixes(SQL_WORDS - self._refused) if self._refused else _SQL_WORD_PREFIXES
        self._name_prefixes = _prefixes(self._names)
        # Value linking (as BRIDGE does): the spans of the question that are values of the database, and
        # the LIKE patterns made of a span that match some value ('X%': a value starts with X, case as written).
        words = list(re.finditer(r"\w+", self.question))
        ends = {w.end() for w in words} | {w.end() + 1 for w in words if self.question[w.end():w.end() + 1] == ")"}
        spans = set()  # from a word's start to a word's end (or a `)` after it), at most MAX_SPAN_WORDS words
        for i, start in enumerate(w.start() for w in words):
            last = words[min(i + MAX_SPAN_WORDS, len(words)) - 1].end() + 1
            spans |= {self.question[start:e] for e in ends if start < e <= last}
        lowered, lines = _value_index(self.values)
        self._value_spans = sorted(s for s in spans if s.lower() in lowered)
        anchored = {s: "start" if m.group(1)[0] in "sSbB" else "end"  # "starts with X", "ends with X"
                    for m in _ANCHORED_SPAN.finditer(self.question) for s in spans
                    if self.question.startswith(s, m.end())}
        patterns = {p: probe for s in spans if s.lower() not in FUNCTION_WORDS
                    for p, probe in _pattern_forms(s, anchored)}
        self._patterns = sorted(p for p, probe in patterns.items() if probe in lines) or sorted(patterns)

    def string_ok(self, so_far: str, piece: str, pattern: bool = False) -> bool:
        """Whether `piece` may follow `so_far` inside a single-quoted string (`pattern`: a LIKE pattern).
        A string is a span of the question; where the question states values of the database, one of them.
        A pattern is a span with `%` at one or both ends that matches some value (when values were read).
        Every text allowed can still be completed to one that is."""
        closing = "'" in piece
        if closing:
            k = piece.index("'")
            if piece[k + 1:].startswith("'"):
                return False
            piece = piece[:k]
        text = so_far + piece
        if pattern:
            return text in self._patterns if closing else _starts_one_of(self._patterns, text)
        if "%" in text:
            return False
        if closing:
            if self._value_spans:
                return text in self._value_spans
            return bool(text) and re.search(rf"(?<!\w){re.escape(text)}(?!\w)", self.question) is not None
        return text == "" or _starts_one_of(self._value_spans or self._starts, text)

    def string_next_chars(self, so_far: str, pattern: bool) -> set[str]:
        """The characters that can follow `so_far` inside a string on the way to an allowed one."""
        texts = self._patterns if pattern else (self._value_spans or self._starts)
        k, chars = bisect.bisect_left(texts, so_far), set()
        while k < len(texts) and texts[k].startswith(so_far):
            chars.add(texts[k][len(so_far):len(so_far) + 1])
            k += 1
        return chars - {""}

    def number_next_chars(self, so_far: str) -> set[str] | None:
        """The digits that can follow `so_far` on the way to a number of the question (None: it is one, so the
        number may also end here, before anything)."""
        if so_far in self._numbers:
            return None
        return {n[len(so_far)] for n in self._numbers if n.startswith(so_far) and n != so_far}

    def number_may_become(self, so_far: str, other_than: str) -> bool:
        """Whether `so_far`, as it is or with more digits, can make a number of the question other than `other_than`."""
        return any(n.startswith(so_far) and n != other_than for n in self._numbers)

    def number_ok(self, so_far: str, piece: str) -> bool:
        """Whether `piece` may follow the digits `so_far` ('' at a number's start, piece without leading spaces)."""
        digits = re.match(r"\d*(?:\.\d*)?", piece).group(0)
        number = so_far + digits
        if len(digits) == len(piece):  # the number may go on
            return any(n.startswith(number) for n in self._numbers)
        return number in self._numbers

    def word_ok(self, partial: str, piece: str, aliases: frozenset[str]) -> bool:
        """Whether `piece` may follow the partial word `partial` outside literals: each word it completes is
        known, and the word it leaves open is the start of one."""
        text = partial + piece
        for m in re.finditer(r"\w+", text):
            word = m.group(0)
            if word.isdigit() or _ALIAS.fullmatch(word):
                continue
            is_open = m.end() == len(text)
            if is_open and (word.upper() in self._word_prefixes or word.lower() in self._name_prefixes
                            or any(a.startswith(word) for a in aliases)):
                continue
            if not is_open and ((word.upper() in SQL_WORDS and word.upper() not in self._refused)
                                or word.lower() in self._names or word in aliases):
                continue
            return False
        return True

    def column_ok(self, table: str, partial: str, piece: str) -> bool:
        """After `alias.`: the word being written is a column of the alias's table."""
        run = re.match(r"\w*", piece).group(0)
        word, columns = (partial + run).lower(), [c.lower() for c in self.tables[table]]
        if len(run) == len(piece):
            return any(c.startswith(word) for c in columns)
        return word in columns


def _pattern_forms(span: str, anchored: dict[str, str]) -> list[tuple[str, str]]:
    """The LIKE patterns of a span, each with the probe that finds a value it matches in the lines of values:
    'X%' alone where the question says it starts or begins with X, '%X' where it ends with X, else all three."""
    forms = {"start": (f"{span}%", f"\n{span}"), "end": (f"%{span}", f"{span}\n"), "any": (f"%{span}%", span)}
    return [forms[anchored[span]]] if span in anchored else list(forms.values())


def _contrary_order(question: str) -> frozenset[str]:
    """ASC where the question asks for descending order alone, DESC where it asks for ascending order alone."""
    asc, desc = (re.search(rf"\b{w}\b", question, re.I) is not None for w in ("ascending", "descending"))
    return frozenset({"ASC"} if desc and not asc else {"DESC"} if asc and not desc else ())


@functools.lru_cache(maxsize=8)
def _value_index(values: frozenset[str]) -> tuple[frozenset[str], str]:
    """A database's values lowercased, and as one text of lines: built once per database, not per question."""
    return frozenset(v.lower() for v in values), "\n" + "\n".join(sorted(values)) + "\n"


def _starts_one_of(sorted_texts: list[str], prefix: str) -> bool:
    """Whether some text of the sorted list starts with prefix (a binary search: this runs per token)."""
    k = bisect.bisect_left(sorted_texts, prefix)
    return k < len(sorted_texts) and sorted_texts[k].startswith(prefix)


def sql_contexts(questions: list[str], db_paths: list) -> list[SqlContext]:
    """One SqlContext per question, its tables and columns read from its SQLite database (each read once)."""
    from t2s_pipeline.sql.schema import read_sqlite_schema

    tables: dict[str, dict[str, list[str]]] = {}
    values: dict[str, frozenset[str]] = {}
    for path in map(str, db_paths):
        if path not in tables:
            schema = read_sqlite_schema(path)
            tables[path] = {t["name"]: [c["name"] for c in t["columns"]] for t in schema["tables"]}
            values[path] = text_values(path, tables[path])
    return [SqlContext(q, tables[str(p)], values[str(p)]) for q, p in zip(questions, db_paths)]


def text_values(db_path: str, tables: dict[str, list[str]], per_column: int = 5000,
                max_length: int = 80) -> frozenset[str]:
    """The distinct short text values of every column (at most per_column of each), the file opened read-only."""
    import sqlite3

    quote = lambda name: '"' + name.replace('"', '""') + '"'
    found: set[str] = set()
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        for table, columns in tables.items():
            for column in map(quote, columns):
                rows = conn.execute(f"SELECT DISTINCT {column} FROM {quote(table)} WHERE typeof({column}) = 'text' "
                                    f"AND length({column}) <= ? LIMIT ?", (max_length, per_column))
                found.update(str(v) for (v,) in rows)
    finally:
        conn.close()
    return frozenset(found)
