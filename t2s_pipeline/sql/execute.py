"""Run untrusted SQL against a SQLite database: read-only, one statement, time-limited, row-capped.

Gold and model-written SQL both go through here. Model SQL is untrusted input, so every layer
refuses on its own:
  1. the text is split with SQLite's quoting and comment rules: exactly one statement, and it must
     be a query (SELECT, WITH or VALUES); anything else is `denied` (a write, DDL, ATTACH, PRAGMA)
     or `not_sql` (empty, several statements, prose, an unterminated string);
  2. the database is opened with the URI `mode=ro`, so SQLite itself refuses to write the file;
  3. an authorizer allows reading only: no ATTACH, no PRAGMA (reading or writing), no
     load_extension, no temporary tables, views or triggers, no DML or DDL;
  4. limits: no attached databases, at most 10 MB per string or blob;
  5. a progress handler aborts the query once its wall-clock deadline passes (`timeout`), and at
     most max_rows rows are fetched (`truncated`).
A verdict never raises for bad SQL: the status says what happened.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# Statuses of one execution. WRONG_RESULT is the judge's (evaluation), listed here so every verdict
# name lives in one place.
OK, WRONG_RESULT, EXEC_ERROR, TIMEOUT, DENIED, NOT_SQL = (
    "ok", "wrong_result", "exec_error", "timeout", "denied", "not_sql")
VERDICTS = (OK, WRONG_RESULT, EXEC_ERROR, TIMEOUT, DENIED, NOT_SQL)

MAX_VALUE_BYTES = 10_000_000  # SQLITE_LIMIT_LENGTH: a recursive CTE cannot build a 1 GB string
PROGRESS_EVERY = 1000  # VM instructions between deadline checks (microseconds)

_READ_STARTERS = {"select", "with", "values"}
# Words that start an SQLite statement that is not a query (sqlite.org/lang.html): denied, not "not SQL".
_OTHER_STARTERS = {
    "alter", "analyze", "attach", "begin", "commit", "create", "delete", "detach", "drop", "end", "explain",
    "insert", "pragma", "reindex", "release", "replace", "rollback", "savepoint", "update", "upsert", "vacuum",
}
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_dbpage"}
_ACTION_NAMES = {
    getattr(sqlite3, name): name[len("SQLITE_"):].lower()
    for name in dir(sqlite3)
    if name.startswith("SQLITE_") and name[len("SQLITE_"):] in {
        "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER",
        "CREATE_TEMP_VIEW", "CREATE_TRIGGER", "CREATE_VIEW", "DELETE", "DROP_INDEX", "DROP_TABLE",
        "DROP_TEMP_INDEX", "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW", "DROP_TRIGGER",
        "DROP_VIEW", "INSERT", "PRAGMA", "TRANSACTION", "UPDATE", "ATTACH", "DETACH", "ALTER_TABLE",
        "REINDEX", "ANALYZE", "CREATE_VTABLE", "DROP_VTABLE", "SAVEPOINT", "COPY"}
}


@dataclass
class ExecResult:
    status: str  # ok | exec_error | timeout | denied | not_sql
    rows: list[tuple] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.status == OK


class UnterminatedError(ValueError):
    """A string literal, quoted identifier or block comment that never closes."""


def split_statements(sql: str) -> list[str]:
    """The statements in `sql`, split on `;` outside literals, quoted names and comments.

    Each statement comes back with its comments removed and whitespace trimmed; empty statements
    (`;;`, a trailing `;`, a comment alone) are dropped. Raises UnterminatedError.
    """
    statements, current, i, n = [], [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = i + 1
            while True:
                j = sql.find(close, j)
                if j < 0:
                    raise UnterminatedError(f"unterminated {ch}...{close} starting at character {i}")
                if close != "]" and j + 1 < n and sql[j + 1] == close:  # doubled quote: an escaped quote
                    j += 2
                    continue
                break
            current.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            current.append(" ")
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise UnterminatedError(f"unterminated comment starting at character {i}")
            i = j + 2
            current.append(" ")
        elif ch == ";":
            statements.append("".join(current).strip())
            current, i = [], i + 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z_]+)")
_SQL_WORD = re.compile(r"\b(select|from|where)\b", re.IGNORECASE)


@lru_cache(maxsize=8192)  # a judge runs the same text on every database of a suite
def check_query(sql: str) -> tuple[str, str, str]:
    """Screen SQL text before it reaches SQLite: (status, error, the one statement to run).

    status is OK for a single query (or text with SELECT, FROM or WHERE in it: SQLite reports its
    mistakes as exec_error), NOT_SQL for empty text, several statements, text that does not close its
    quotes or has no SQL in it (prose), DENIED for a statement that is not a query.
    """
    try:
        statements = split_statements(sql or "")
    except UnterminatedError as e:
        return NOT_SQL, str(e), ""
    if not statements:
        return NOT_SQL, "empty query", ""
    if len(statements) > 1:
        return NOT_SQL, f"{len(statements)} statements: only one query is allowed", ""
    text = statements[0]
    match = _FIRST_WORD.match(text)
    word = match.group(1).lower() if match else ""
    if word in _READ_STARTERS:
        return OK, "", text
    if word in _OTHER_STARTERS:
        return DENIED, f"{word.upper()} is not allowed: only read-only queries (SELECT, WITH, VALUES) run", ""
    if _SQL_WORD.search(text):
        return OK, "", text  # SQL with a mistake (`SELEC a FROM t`): SQLite reports the error
    return NOT_SQL, f"not SQL: {text[:40]!r}", ""


def connect_readonly(db_path: str | Path) -> sqlite3.Connection:
    """A read-only connection (URI mode=ro) with the sandbox limits; raises FileNotFoundError."""
    path = Path(db_path)
    if not path.is_file():
        raise FileNotFoundError(f"database not found: {path}")
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, check_same_thread=False)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    return conn


def execute_sql(
    db_path: str | Path,
    sql: str,
    timeout_s: float = 5.0,
    max_rows: int = 10_000,
    conn: sqlite3.Connection | None = None,
) -> ExecResult:
    """Execute one read-only query; never raises for bad SQL or a missing database, returns a status."""
    start = time.monotonic()
    status, error, text = check_query(sql)
    if status != OK:
        return ExecResult(status, error=error)
    own = conn is None
    if own:
        try:
            conn = connect_readonly(db_path)
        except FileNotFoundError as e:
            return ExecResult(EXEC_ERROR, error=str(e))
        except sqlite3.Error as e:
            return ExecResult(EXEC_ERROR, error=f"cannot open database {db_path}: {e}")
    denied: list[str] = []

    def authorizer(action, arg1, arg2, db_name, trigger):
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            denied.append(f"function {arg2}()")
            return sqlite3.SQLITE_DENY
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        denied.append(" ".join(str(a) for a in (_ACTION_NAMES.get(action, f"action {action}"), arg1) if a))
        return sqlite3.SQLITE_DENY

    deadline = start + timeout_s
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, PROGRESS_EVERY)
    conn.set_authorizer(authorizer)
    try:
        cursor = conn.execute(text)
        rows = cursor.fetchmany(max_rows + 1)
        columns = [d[0] for d in cursor.description or []]
        cursor.close()
        truncated = len(rows) > max_rows
        return ExecResult(OK, rows[:max_rows], columns, seconds=time.monotonic() - start, truncated=truncated)
    except sqlite3.Error as e:
        elapsed = time.monotonic() - start
        message = str(e)
        if "interrupted" in message:
            return ExecResult(TIMEOUT, error=f"exceeded {timeout_s:g} s", seconds=elapsed)
        if "not authorized" in message or "prohibited" in message or denied:
            what = ", ".join(dict.fromkeys(denied)) or message
            return ExecResult(DENIED, error=f"not authorized: {what}", seconds=elapsed)
        if isinstance(e, sqlite3.ProgrammingError) and "one statement" in message:
            return ExecResult(NOT_SQL, error=message, seconds=elapsed)
        return ExecResult(EXEC_ERROR, error=message, seconds=elapsed)
    except (ValueError, OverflowError, MemoryError) as e:
        return ExecResult(EXEC_ERROR, error=f"{type(e).__name__}: {e}", seconds=time.monotonic() - start)
    finally:
        conn.set_progress_handler(None, 0)
        conn.set_authorizer(None)
        if own:
            conn.close()
