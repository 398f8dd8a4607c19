"""Run SQL against a SQLite database read-only, with a wall-clock timeout and a row cap.

Gold and model-written SQL both go through here. Model SQL is untrusted: the database is opened
with `mode=ro`, an authorizer allows reading only, and a progress handler aborts long queries.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

# Reasons a query did not produce a result.
OK, EXEC_ERROR, TIMEOUT, DENIED, NOT_SQL = "ok", "exec_error", "timeout", "denied", "not_sql"

_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
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


def _authorizer(action, arg1, arg2, db_name, trigger):
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    # PRAGMA reads used internally by SQLite are still denied: model SQL has no need for them.
    return sqlite3.SQLITE_DENY


def connect_readonly(db_path: str | Path) -> sqlite3.Connection:
    path = Path(db_path)
    if not path.is_file():
        raise FileNotFoundError(f"database file not found: {path}")
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, check_same_thread=False)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    return conn


def execute_sql(
    db_path: str | Path,
    sql: str,
    timeout_s: float = 5.0,
    max_rows: int = 10_000,
    conn: sqlite3.Connection | None = None,
) -> ExecResult:
    """Execute one read-only statement; never raises for bad SQL, returns a status instead."""
    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        return ExecResult(NOT_SQL, error="empty query")
    if not sqlite3.complete_statement(text + ";") or ";" in _strip_literals(text):
        return ExecResult(NOT_SQL, error="not a single complete SQL statement")
    own = conn is None
    conn = conn or connect_readonly(db_path)
    start = time.monotonic()
    deadline = start + timeout_s
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
    conn.set_authorizer(_authorizer)
    try:
        cursor = conn.execute(text)
        rows = cursor.fetchmany(max_rows + 1)
        columns = [d[0] for d in cursor.description or []]
        truncated = len(rows) > max_rows
        return ExecResult(OK, rows[:max_rows], columns, seconds=time.monotonic() - start, truncated=truncated)
    except sqlite3.OperationalError as e:
        elapsed = time.monotonic() - start
        if "interrupted" in str(e):
            return ExecResult(TIMEOUT, error=f"exceeded {timeout_s}s", seconds=elapsed)
        if "not authorized" in str(e):
            return ExecResult(DENIED, error=str(e), seconds=elapsed)
        return ExecResult(EXEC_ERROR, error=str(e), seconds=elapsed)
    except (sqlite3.Error, ValueError, OverflowError) as e:
        return ExecResult(EXEC_ERROR, error=f"{type(e).__name__}: {e}", seconds=time.monotonic() - start)
    finally:
        conn.set_progress_handler(None, 0)
        conn.set_authorizer(None)
        if own:
            conn.close()


def _strip_literals(sql: str) -> str:
    """The query with quoted strings removed, so a ';' inside a literal is not a second statement."""
    out, quote = [], None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        else:
            out.append(ch)
    return "".join(out)
