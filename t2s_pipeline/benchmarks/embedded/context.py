"""What a question template sees: the domain, its filled database and a seeded RNG."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass

from .schema import Domain


@dataclass(frozen=True)
class Candidate:
    template: str  # template name; selection balances over these
    sql: str
    questions: tuple[str, ...]
    difficulty: str  # easy | medium | hard | extra


@dataclass
class Context:
    domain: Domain
    conn: sqlite3.Connection
    rng: random.Random

    def values(self, table: str, column: str) -> list:
        """Distinct non-null values, sorted so sampling from them is deterministic."""
        sql = f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column}"
        return [row[0] for row in self.conn.execute(sql)]

    def pick(self, table: str, column: str, k: int = 2) -> list:
        values = self.values(table, column)
        return self.rng.sample(values, min(k, len(values)))

    def thresholds(self, table: str, column: str, k: int = 2) -> list:
        """Values from the middle half, so both '>' and '<' keep some rows."""
        values = self.values(table, column)
        middle = values[len(values) // 4 : max(len(values) * 3 // 4, len(values) // 4 + 1)]
        return sorted(self.rng.sample(middle, min(k, len(middle))))

    def group_sizes(self, sql: str) -> list[int]:
        """Sorted row counts of a 'SELECT COUNT(*) ... GROUP BY' query, to pick HAVING bounds."""
        return sorted(row[0] for row in self.conn.execute(sql))

    def having_bound(self, sql: str) -> int | None:
        """A count that some but not all groups reach, so HAVING keeps a real subset."""
        sizes = self.group_sizes(sql)
        usable = [n for n in sorted(set(sizes)) if n >= 2]
        return self.rng.choice(usable[-3:]) if usable else None
