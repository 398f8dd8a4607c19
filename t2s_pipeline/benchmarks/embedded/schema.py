"""Declarative schema pieces the embedded benchmark is built from.

A domain is a few tables plus English phrasing for their columns and links, so the
question templates stay generic across domains.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

# Column kinds the templates understand:
#   label    - the human-readable name of a row (selected in answers)
#   category - text with few distinct values (filters, GROUP BY, DISTINCT)
#   number   - a measure (comparisons, AVG/SUM/MIN/MAX, ORDER BY)
#   ordinal  - years, floors: compared and sorted, never averaged


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # INTEGER | TEXT | REAL
    phrase: str = ""  # English noun; empty keeps the column out of questions (ids, keys)
    kind: str = ""
    plural: str = ""  # defaults to pluralize(phrase)
    eq: tuple[str, ...] = ()  # ways to say "column = {v}" after a plural noun
    references: str = ""  # "table.column" for a foreign key
    via: str = ""  # how a child row relates to the referenced one: "written by"
    child_noun: tuple[str, str] = ()  # (singular, plural) overriding the child table's noun
    summable: bool = False  # SUM makes sense (budgets, quantities), unlike ages

    @property
    def plural_phrase(self) -> str:
        return self.plural or pluralize(self.phrase)


@dataclass(frozen=True)
class Table:
    name: str
    singular: str
    plural: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def of_kind(self, *kinds: str) -> list[Column]:
        return [c for c in self.columns if c.kind in kinds]

    @property
    def label(self) -> Column | None:
        labels = self.of_kind("label")
        return labels[0] if labels else None

    def ddl(self) -> str:
        lines = [f"  {c.name} {c.sql_type}" for c in self.columns]
        lines.append(f"  PRIMARY KEY ({', '.join(self.primary_key)})")
        for c in self.columns:
            if c.references:
                table, column = c.references.split(".")
                lines.append(f"  FOREIGN KEY ({c.name}) REFERENCES {table}({column})")
        return f"CREATE TABLE {self.name} (\n" + ",\n".join(lines) + "\n)"


@dataclass(frozen=True)
class Link:
    """A many-to-many pairing through a bridge table, e.g. student-enrollment-course.

    The phrases describe rows of one side by a label of the other, with `{v}` for the label:
    left rows are "students enrolled in {v}", right rows are "courses taken by {v}".
    """

    left: str
    bridge: str
    right: str
    left_fk: str
    right_fk: str
    left_by_right: str
    left_not_by_right: str
    right_by_left: str
    right_not_by_left: str


@dataclass(frozen=True)
class Relation:
    """One foreign key seen as parent (referenced) and child (referencing) tables."""

    parent: Table
    parent_key: str
    child: Table
    fk: Column

    @property
    def child_singular(self) -> str:
        return self.fk.child_noun[0] if self.fk.child_noun else self.child.singular

    @property
    def child_plural(self) -> str:
        return self.fk.child_noun[1] if self.fk.child_noun else self.child.plural


@dataclass(frozen=True)
class Domain:
    db_id: str
    tables: tuple[Table, ...]
    links: tuple[Link, ...]
    populate: Callable[[random.Random], dict[str, list[tuple]]]  # table -> rows

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def relations(self) -> list[Relation]:
        found = []
        for child in self.tables:
            for fk in child.columns:
                if fk.references:
                    parent, key = fk.references.split(".")
                    found.append(Relation(self.table(parent), key, child, fk))
        return found


def pluralize(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"
