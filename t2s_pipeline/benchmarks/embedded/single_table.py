"""Question templates over one table: selection, filters, aggregates, grouping, set operations."""

from __future__ import annotations

from typing import Iterator

from .context import Candidate, Context
from .phrasing import (
    AGG_WORDS, AGGREGATE, BOTTOM_WORDS, COUNT, LIST, TOP_WORDS,
    ask, between_phrases, eq_phrases, gt_phrases, literal, lt_phrases,
)
from .schema import Table

PAIR = (
    "Show the {a} and {b} of each {one}.",
    "List the {a} and {b} of every {one}.",
    "What are the {a} and {b} of all {many}?",
    "Give me the {a} and {b} for each {one}.",
)
MIN_MAX = (
    "What are the maximum and minimum {col} of all {many}?",
    "Show the highest and lowest {col} among {many}.",
    "Find the largest and smallest {col} of {many}.",
)
DISTINCT = (
    "List the distinct {cats} of {many}.",
    "What are the different {cats} of {many}?",
    "Show all unique {cats} among {many}.",
    "Which {cats} do {many} have?",
)
COUNT_DISTINCT = (
    "How many different {cats} do {many} have?",
    "Count the number of distinct {cats} among {many}.",
    "How many unique {cats} are there for {many}?",
)
TOP_K = (
    "List the {cols} of the {k} {many} with the {top} {col}.",
    "Which {k} {many} have the {top} {col}?",
    "Show the {k} {many} that have the {top} {col}.",
    "Give me the {cols} of the {k} {many} with the {top} {col}.",
)
TOP_ONE = (
    "Which {one} has the {top} {col}?",
    "What is the {label} of the {one} with the {top} {col}?",
    "Find the {one} with the {top} {col}.",
    "Give me the {label} of the {one} that has the {top} {col}.",
)
SORTED = (
    "List the {label} and {col} of all {many}, sorted by {col} in {order} order.",
    "Show every {one}'s {label} and {col}, ordered by {col} in {order} order.",
    "What are the {labels} and {cols} of {many}, in {order} order of {col}?",
)
GROUP_COUNT = (
    "How many {many} are there for each {cat}?",
    "Show each {cat} and the number of {many}.",
    "For each {cat}, how many {many} are there?",
    "Give me the number of {many} per {cat}.",
)
GROUP_AGG = (
    "What is the {agg} {col} of {many} for each {cat}?",
    "For each {cat}, show the {agg} {col} of {many}.",
    "Show the {agg} {col} of {many} grouped by {cat}.",
    "List each {cat} together with the {agg} {col} of its {many}.",
)
GROUP_TOP = (
    "Which {cat} has the most {many}?",
    "What is the most common {cat} among {many}?",
    "Find the {cat} with the largest number of {many}.",
)
HAVING = (
    "Which {cats} have {bound} {n} {many}?",
    "List the {cats} that have {bound} {n} {many}.",
    "Find the {cats} with {bound} {n} {many}.",
)
INTERSECT = (
    "Which {cats} have both {many} {a} and {many} {b}?",
    "List the {cats} that have {many} {a} as well as {many} {b}.",
    "Find the {cats} shared by {many} {a} and {many} {b}.",
)
EXCEPT = (
    "Which {cats} have no {many} {a}?",
    "List the {cats} that do not have any {many} {a}.",
    "Find the {cats} without {many} {a}.",
)


def single_table_candidates(ctx: Context) -> Iterator[Candidate]:
    for table in ctx.domain.tables:
        for template in TEMPLATES:
            yield from template(ctx, table)


def _candidate(name: str, sql: str, questions: list[str], difficulty: str) -> Candidate:
    return Candidate(name, sql, tuple(questions), difficulty)


def select_all(ctx: Context, t: Table) -> Iterator[Candidate]:
    if not t.label:
        return
    lab = t.label
    yield _candidate("select_all", f"SELECT {lab.name} FROM {t.name}",
                     ask(ctx.rng, LIST, cols=lab.plural_phrase, np=f"all {t.plural}"), "easy")
    for col in t.of_kind("category", "number", "ordinal"):
        sql = f"SELECT {lab.name}, {col.name} FROM {t.name}"
        yield _candidate("select_pair", sql, ask(ctx.rng, PAIR, a=lab.phrase, b=col.phrase,
                                                 one=t.singular, many=t.plural), "easy")


def filters(ctx: Context, t: Table) -> Iterator[Candidate]:
    """WHERE with =, <, >, BETWEEN and LIKE, answered with the label column."""
    if not t.label:
        return
    lab, rng = t.label, ctx.rng

    def listed(name: str, where: str, modifiers: tuple[str, ...], difficulty: str = "easy"):
        sql = f"SELECT {lab.name} FROM {t.name} WHERE {where}"
        nps = tuple(f"{t.plural} {m}" for m in modifiers)
        return _candidate(name, sql, ask(rng, LIST, cols=lab.plural_phrase, np=nps), difficulty)

    for col in t.of_kind("category", "ordinal"):
        for v in ctx.pick(t.name, col.name):
            yield listed("where_eq", f"{col.name} = {literal(v)}", eq_phrases(col, v))
    for col in t.of_kind("number", "ordinal"):
        low, high = (ctx.thresholds(t.name, col.name) * 2)[:2]
        yield listed("where_gt", f"{col.name} > {literal(low)}", gt_phrases(col, low))
        yield listed("where_lt", f"{col.name} < {literal(high)}", lt_phrases(col, high))
        if low < high:
            yield listed("where_between", f"{col.name} BETWEEN {literal(low)} AND {literal(high)}",
                         between_phrases(col, low, high))
    for cat in t.of_kind("category")[:1]:
        for num in t.of_kind("number")[:1]:
            v, x = ctx.pick(t.name, cat.name, 1)[0], ctx.thresholds(t.name, num.name, 1)[0]
            mods = tuple(f"{e} and {g}" for e in eq_phrases(cat, v) for g in gt_phrases(num, x)[:1])
            yield listed("where_and", f"{cat.name} = {literal(v)} AND {num.name} > {literal(x)}",
                         mods, "medium")
    label_value = ctx.pick(t.name, lab.name, 1)[0]
    letter = label_value[0]
    yield listed("where_like_prefix", f"{lab.name} LIKE '{letter}%'",
                 (f"whose {lab.phrase} starts with {letter}", f"whose {lab.phrase} begins with the letter {letter}"))
    words = [w for w in label_value.split() if len(w) >= 4 and w.isalpha()]
    if words:
        word = rng.choice(words)
        yield listed("where_like_word", f"{lab.name} LIKE '%{word}%'",
                     (f"whose {lab.phrase} contains {word}", f"with {word} in their {lab.phrase}"))


def aggregates(ctx: Context, t: Table) -> Iterator[Candidate]:
    rng = ctx.rng
    yield _candidate("count_all", f"SELECT COUNT(*) FROM {t.name}", ask(rng, COUNT, np=t.plural), "easy")
    for cat in t.of_kind("category"):
        v = ctx.pick(t.name, cat.name, 1)[0]
        nps = tuple(f"{t.plural} {m}" for m in eq_phrases(cat, v))
        yield _candidate("count_where", f"SELECT COUNT(*) FROM {t.name} WHERE {cat.name} = {literal(v)}",
                         ask(rng, COUNT, np=nps), "easy")
        yield _candidate("distinct", f"SELECT DISTINCT {cat.name} FROM {t.name}",
                         ask(rng, DISTINCT, cats=cat.plural_phrase, many=t.plural), "easy")
        yield _candidate("count_distinct", f"SELECT COUNT(DISTINCT {cat.name}) FROM {t.name}",
                         ask(rng, COUNT_DISTINCT, cats=cat.plural_phrase, many=t.plural), "easy")
    for num in t.of_kind("number"):
        funcs = ["AVG", "MAX", "MIN"] + (["SUM"] if num.summable else [])
        for func in funcs:
            name = "aggregate_sum" if func == "SUM" else "aggregate"  # SUM fits fewer columns: its own quota
            yield _candidate(name, f"SELECT {func}({num.name}) FROM {t.name}",
                             ask(rng, AGGREGATE, agg=AGG_WORDS[func], col=num.phrase, np=f"all {t.plural}"), "easy")
        yield _candidate("min_max", f"SELECT MAX({num.name}), MIN({num.name}) FROM {t.name}",
                         ask(rng, MIN_MAX, col=num.phrase, many=t.plural), "easy")
        low, high = (ctx.thresholds(t.name, num.name) * 2)[:2]
        if low < high:
            nps = tuple(f"{t.plural} {m}" for m in between_phrases(num, low, high))
            sql = f"SELECT COUNT(*) FROM {t.name} WHERE {num.name} BETWEEN {literal(low)} AND {literal(high)}"
            yield _candidate("count_between", sql, ask(rng, COUNT, np=nps), "easy")
        for cat in t.of_kind("category")[:1]:
            v, func = ctx.pick(t.name, cat.name, 1)[0], rng.choice(funcs)
            nps = tuple(f"{t.plural} {m}" for m in eq_phrases(cat, v))
            sql = f"SELECT {func}({num.name}) FROM {t.name} WHERE {cat.name} = {literal(v)}"
            yield _candidate("aggregate_where", sql,
                             ask(rng, AGGREGATE, agg=AGG_WORDS[func], col=num.phrase, np=nps), "easy")


def ordering(ctx: Context, t: Table) -> Iterator[Candidate]:
    if not t.label:
        return
    lab, rng = t.label, ctx.rng
    for num in t.of_kind("number", "ordinal"):
        for direction, words in (("DESC", TOP_WORDS), ("ASC", BOTTOM_WORDS)):
            k = rng.choice((3, 5))
            slots = dict(cols=lab.plural_phrase, label=lab.phrase, col=num.phrase, one=t.singular,
                         many=t.plural, top=words, k=k)
            yield _candidate("top_k", f"SELECT {lab.name} FROM {t.name} ORDER BY {num.name} {direction} LIMIT {k}",
                             ask(rng, TOP_K, **slots), "medium")
            yield _candidate("top_one", f"SELECT {lab.name} FROM {t.name} ORDER BY {num.name} {direction} LIMIT 1",
                             ask(rng, TOP_ONE, **slots), "medium")
        direction, order = rng.choice((("DESC", "descending"), ("ASC", "ascending")))
        sql = f"SELECT {lab.name}, {num.name} FROM {t.name} ORDER BY {num.name} {direction}"
        yield _candidate("sorted", sql, ask(rng, SORTED, label=lab.phrase, labels=lab.plural_phrase, col=num.phrase,
                                            cols=num.plural_phrase, one=t.singular, many=t.plural, order=order),
                         "medium")


def grouping(ctx: Context, t: Table) -> Iterator[Candidate]:
    rng = ctx.rng
    for cat in t.of_kind("category"):
        slots = dict(cat=cat.phrase, cats=cat.plural_phrase, many=t.plural)
        yield _candidate("group_count", f"SELECT {cat.name}, COUNT(*) FROM {t.name} GROUP BY {cat.name}",
                         ask(rng, GROUP_COUNT, **slots), "medium")
        for num in t.of_kind("number"):
            func = "SUM" if num.summable else rng.choice(("AVG", "MAX", "MIN"))
            sql = f"SELECT {cat.name}, {func}({num.name}) FROM {t.name} GROUP BY {cat.name}"
            yield _candidate("group_aggregate", sql,
                             ask(rng, GROUP_AGG, agg=AGG_WORDS[func], col=num.phrase, **slots), "medium")
        sql = f"SELECT {cat.name} FROM {t.name} GROUP BY {cat.name} ORDER BY COUNT(*) DESC LIMIT 1"
        yield _candidate("group_top", sql, ask(rng, GROUP_TOP, **slots), "hard")
        n = ctx.having_bound(f"SELECT COUNT(*) FROM {t.name} GROUP BY {cat.name}")
        if n:
            op, bound = rng.choice(((">=", "at least"), (">", "more than")))
            sql = f"SELECT {cat.name} FROM {t.name} GROUP BY {cat.name} HAVING COUNT(*) {op} {n}"
            yield _candidate("group_having", sql, ask(rng, HAVING, n=n, bound=bound, **slots), "hard")


def nested_and_sets(ctx: Context, t: Table) -> Iterator[Candidate]:
    rng, lab = ctx.rng, t.label
    for num in t.of_kind("number"):
        if lab:
            op, side = rng.choice(((">", "above"), ("<", "below")))
            sql = f"SELECT {lab.name} FROM {t.name} WHERE {num.name} {op} (SELECT AVG({num.name}) FROM {t.name})"
            nps = (f"{t.plural} whose {num.phrase} is {side} the average",
                   f"{t.plural} with {num.phrase} {side} the average {num.phrase}")
            yield _candidate("above_average", sql, ask(rng, LIST, cols=lab.plural_phrase, np=nps), "hard")
        for cat in t.of_kind("category"):
            low, high = (ctx.thresholds(t.name, num.name) * 2)[:2]
            gt, lt = gt_phrases(num, low), lt_phrases(num, high)
            slots = dict(cats=cat.plural_phrase, many=t.plural)
            sql = (f"SELECT {cat.name} FROM {t.name} WHERE {num.name} > {literal(low)} INTERSECT "
                   f"SELECT {cat.name} FROM {t.name} WHERE {num.name} < {literal(high)}")
            yield _candidate("intersect", sql, ask(rng, INTERSECT, a=gt, b=lt, **slots), "extra")
            sql = (f"SELECT {cat.name} FROM {t.name} EXCEPT "
                   f"SELECT {cat.name} FROM {t.name} WHERE {num.name} > {literal(high)}")
            yield _candidate("except", sql, ask(rng, EXCEPT, a=gt_phrases(num, high), **slots), "extra")
            if lab:
                v = ctx.pick(t.name, cat.name, 1)[0]
                sql = (f"SELECT {lab.name} FROM {t.name} WHERE {cat.name} = {literal(v)} UNION "
                       f"SELECT {lab.name} FROM {t.name} WHERE {num.name} > {literal(high)}")
                nps = tuple(f"{t.plural} {e} or {t.plural} {g}"
                            for e in eq_phrases(cat, v) for g in gt_phrases(num, high)[:2])
                yield _candidate("union", sql, ask(rng, LIST, cols=lab.plural_phrase, np=nps), "extra")


TEMPLATES = (select_all, filters, aggregates, ordering, grouping, nested_and_sets)
