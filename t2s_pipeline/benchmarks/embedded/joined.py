"""Question templates over several tables: joins along foreign keys and through bridge tables,
IN / NOT IN subqueries, HAVING on joined counts and set operations on joined selections."""

from __future__ import annotations

from typing import Iterator

from .context import Candidate, Context
from .phrasing import AGG_WORDS, COUNT, LIST, article, ask, eq_phrases, gt_phrases, literal
from .schema import Link, Relation

WHICH_ARE = LIST + ("Which {many} are {mod}?",)
PARENT_OF_CHILD = (
    "Which {pone} is the {cone} {v} {via}?",
    "Find the {plabel} of the {pone} that the {cone} {v} is {via}.",
    "What is the {plabel} of the {pone} the {cone} {v} is {via}?",
)
COUNT_PER_PARENT = (
    "How many {cmany} does each {pone} have?",
    "For each {pone}, show the {plabel} and the number of {cmany}.",
    "Show the number of {cmany} for every {pone}.",
    "List the {plabel} of each {pone} together with the number of {cmany}.",
)
AGG_PER_PARENT = (
    "What is the {agg} {col} of {cmany} for each {pone}?",
    "For each {pone}, show the {plabel} and the {agg} {col} of its {cmany}.",
    "Show the {agg} {col} of the {cmany} of every {pone}.",
)
TOP_PARENT = (
    "Which {pone} has the most {cmany}?",
    "What is the {plabel} of the {pone} with the largest number of {cmany}?",
    "Find the {pone} that has the most {cmany}.",
)
HAVING_PARENT = (
    "Which {pmany} have {bound} {n} {cmany}?",
    "List the {plabels} of {pmany} with {bound} {n} {cmany}.",
    "Give me the {plabels} of {pmany} that have {bound} {n} {cmany}.",
)


def joined_candidates(ctx: Context) -> Iterator[Candidate]:
    for relation in ctx.domain.relations():
        if relation.parent.label:
            for template in RELATION_TEMPLATES:
                yield from template(ctx, relation)
    for link in ctx.domain.links:
        for side in _link_sides(link):
            yield from link_templates(ctx, *side)


def _candidate(name: str, sql: str, questions: list[str], difficulty: str) -> Candidate:
    return Candidate(name, sql, tuple(questions), difficulty)


def _join(r: Relation) -> str:
    return f"FROM {r.parent.name} AS T1 JOIN {r.child.name} AS T2 ON T1.{r.parent_key} = T2.{r.fk.name}"


def _pair_of_values(ctx: Context, sql: str) -> tuple | None:
    """Two distinct values sharing one owner; `sql` yields (owner, value) rows."""
    by_owner: dict = {}
    for owner, value in ctx.conn.execute(sql + " ORDER BY 1, 2"):
        by_owner.setdefault(owner, [])
        if value not in by_owner[owner]:
            by_owner[owner].append(value)
    shared = [values for values in by_owner.values() if len(values) >= 2]
    return tuple(ctx.rng.sample(ctx.rng.choice(shared), 2)) if shared else None


def child_by_parent(ctx: Context, r: Relation) -> Iterator[Candidate]:
    """2-table joins that list children of given parents (or parents of a given child)."""
    p, c, rng = r.parent, r.child, ctx.rng
    if not (c.label and r.fk.via):
        return
    parents = [row[0] for row in ctx.conn.execute(f"SELECT DISTINCT T1.{p.label.name} {_join(r)} ORDER BY 1")]
    for v in rng.sample(parents, min(2, len(parents))):
        sql = f"SELECT T2.{c.label.name} {_join(r)} WHERE T1.{p.label.name} = {literal(v)}"
        mod = f"{r.fk.via} {v}"
        yield _candidate("join_child_by_parent", sql,
                         ask(rng, WHICH_ARE, cols=c.label.plural_phrase, np=f"{c.plural} {mod}", many=c.plural,
                             mod=mod), "medium")
    for cat in p.of_kind("category", "ordinal")[:2]:
        v = ctx.pick(p.name, cat.name, 1)[0]
        nps = tuple(f"{c.plural} {r.fk.via} {article(p.singular)} {p.singular} {e}" for e in eq_phrases(cat, v))
        sql = f"SELECT T2.{c.label.name} {_join(r)} WHERE T1.{cat.name} = {literal(v)}"
        yield _candidate("join_child_by_parent_attr", sql, ask(rng, LIST, cols=c.label.plural_phrase, np=nps),
                         "medium")
    v = ctx.pick(c.name, c.label.name, 1)[0]
    sql = f"SELECT T1.{p.label.name} {_join(r)} WHERE T2.{c.label.name} = {literal(v)}"
    yield _candidate("join_parent_of_child", sql,
                     ask(rng, PARENT_OF_CHILD, pone=p.singular, cone=c.singular, v=v, via=r.fk.via,
                         plabel=p.label.phrase), "medium")


def per_parent(ctx: Context, r: Relation) -> Iterator[Candidate]:
    """GROUP BY the parent over a join: counts, aggregates, the top parent and HAVING."""
    p, rng = r.parent, ctx.rng
    slots = dict(pone=p.singular, pmany=p.plural, plabel=p.label.phrase, plabels=p.label.plural_phrase,
                 cmany=r.child_plural)
    group = f"{_join(r)} GROUP BY T1.{r.parent_key}"
    yield _candidate("join_count_per_parent", f"SELECT T1.{p.label.name}, COUNT(*) {group}",
                     ask(rng, COUNT_PER_PARENT, **slots), "medium")
    for num in r.child.of_kind("number")[:1]:
        func = "SUM" if num.summable else rng.choice(("AVG", "MAX", "MIN"))
        yield _candidate("join_aggregate_per_parent", f"SELECT T1.{p.label.name}, {func}(T2.{num.name}) {group}",
                         ask(rng, AGG_PER_PARENT, agg=AGG_WORDS[func], col=num.phrase, **slots), "medium")
    yield _candidate("join_top_parent", f"SELECT T1.{p.label.name} {group} ORDER BY COUNT(*) DESC LIMIT 1",
                     ask(rng, TOP_PARENT, **slots), "extra")
    n = ctx.having_bound(f"SELECT COUNT(*) {group}")
    if n:
        op, bound = rng.choice(((">=", "at least"), (">", "more than")))
        yield _candidate("join_having", f"SELECT T1.{p.label.name} {group} HAVING COUNT(*) {op} {n}",
                         ask(rng, HAVING_PARENT, n=n, bound=bound, **slots), "hard")


def subqueries(ctx: Context, r: Relation) -> Iterator[Candidate]:
    """Parents with / without matching children: IN, NOT IN, EXCEPT, UNION, INTERSECT."""
    p, c, rng = r.parent, r.child, ctx.rng
    lab, cone, cmany = p.label, r.child_singular, r.child_plural
    a = article(cone)
    parent_where = f"SELECT {lab.name} FROM {p.name} WHERE {r.parent_key}"

    def listed(name: str, sql: str, nps: tuple[str, ...], difficulty: str) -> Candidate:
        return _candidate(name, sql, ask(rng, LIST, cols=lab.plural_phrase, np=nps), difficulty)

    yield listed("not_in", f"{parent_where} NOT IN (SELECT {r.fk.name} FROM {c.name})",
                 (f"{p.plural} without any {cmany}", f"{p.plural} that have no {cmany}"), "hard")
    for cat in c.of_kind("category", "ordinal")[:1]:
        v = ctx.pick(c.name, cat.name, 1)[0]
        sub = f"(SELECT {r.fk.name} FROM {c.name} WHERE {cat.name} = {literal(v)})"
        yield listed("in_subquery_value", f"{parent_where} IN {sub}",
                     tuple(f"{p.plural} that have {a} {cone} {e}" for e in eq_phrases(cat, v)), "hard")
        yield listed("not_in_filtered", f"{parent_where} NOT IN {sub}",
                     tuple(f"{p.plural} that have no {cone} {e}" for e in eq_phrases(cat, v)), "hard")
        pair = _pair_of_values(ctx, f"SELECT {r.fk.name}, {cat.name} FROM {c.name}")
        if pair:
            x, y = pair
            both = f"SELECT T1.{lab.name} {_join(r)} WHERE T2.{cat.name} = "
            ex, ey = eq_phrases(cat, x)[0], eq_phrases(cat, y)[0]
            yield listed("join_intersect", f"{both}{literal(x)} INTERSECT {both}{literal(y)}",
                         (f"{p.plural} that have both {a} {cone} {ex} and {a} {cone} {ey}",), "extra")
            yield listed("join_union", f"{both}{literal(x)} UNION {both}{literal(y)}",
                         (f"{p.plural} that have {a} {cone} {ex} or {a} {cone} {ey}",), "extra")
    for num in c.of_kind("number")[:1]:
        x = ctx.thresholds(c.name, num.name, 1)[0]
        sub = f"(SELECT {r.fk.name} FROM {c.name} WHERE {num.name} > {literal(x)})"
        yield listed("in_subquery_threshold", f"{parent_where} IN {sub}",
                     tuple(f"{p.plural} that have {a} {cone} {g}" for g in gt_phrases(num, x)), "hard")
        sql = (f"SELECT {lab.name} FROM {p.name} EXCEPT "
               f"SELECT T1.{lab.name} {_join(r)} WHERE T2.{num.name} > {literal(x)}")
        yield listed("join_except", sql, tuple(f"{p.plural} that have no {cmany} {g}" for g in gt_phrases(num, x)),
                     "extra")


def _link_sides(link: Link) -> list[tuple]:
    """Both directions of a bridge: (from table, its fk, to table, its fk, phrase, negated phrase)."""
    return [(link.left, link.left_fk, link.bridge, link.right, link.right_fk,
             link.left_by_right, link.left_not_by_right),
            (link.right, link.right_fk, link.bridge, link.left, link.left_fk,
             link.right_by_left, link.right_not_by_left)]


def link_templates(ctx: Context, src: str, src_fk: str, bridge: str, dst: str, dst_fk: str,
                   phrase: str, negated: str) -> Iterator[Candidate]:
    """3-table joins through a bridge: rows of `src` described by a label of `dst`."""
    s, d, rng = ctx.domain.table(src), ctx.domain.table(dst), ctx.rng
    lab = s.label
    join3 = (f"FROM {src} AS T1 JOIN {bridge} AS T2 ON T1.{s.primary_key[0]} = T2.{src_fk} "
             f"JOIN {dst} AS T3 ON T2.{dst_fk} = T3.{d.primary_key[0]}")
    select = f"SELECT T1.{lab.name} {join3} WHERE T3.{d.label.name} = "

    def listed(name: str, sql: str, nps: tuple[str, ...], difficulty: str) -> Candidate:
        return _candidate(name, sql, ask(rng, LIST, cols=lab.plural_phrase, np=nps), difficulty)

    linked = [row[0] for row in ctx.conn.execute(f"SELECT DISTINCT T3.{d.label.name} {join3} ORDER BY 1")]
    for v in rng.sample(linked, min(2, len(linked))):
        yield listed("link_join", select + literal(v), (f"{s.plural} {phrase.format(v=v)}",), "hard")
    v = rng.choice(linked)
    nps = (f"different {s.plural} {phrase.format(v=v)}",)
    yield _candidate("link_count_distinct", f"SELECT COUNT(DISTINCT T1.{lab.name}) {join3} WHERE "
                     f"T3.{d.label.name} = {literal(v)}", ask(rng, COUNT, np=nps), "hard")
    for cat in d.of_kind("category")[:1]:
        v = ctx.pick(dst, cat.name, 1)[0]
        nps = tuple(f"{s.plural} {phrase.format(v=f'{article(d.singular)} {d.singular} {e}')}"
                    for e in eq_phrases(cat, v))
        yield listed("link_join_attr", f"SELECT T1.{lab.name} {join3} WHERE T3.{cat.name} = {literal(v)}", nps,
                     "hard")
    v = rng.choice(linked)
    sql = f"SELECT {lab.name} FROM {src} EXCEPT {select}{literal(v)}"
    yield listed("link_except", sql, (f"{s.plural} {negated.format(v=v)}",), "extra")
    pair = _pair_of_values(ctx, f"SELECT T1.{s.primary_key[0]}, T3.{d.label.name} {join3}")
    if pair:
        x, y = pair
        yield listed("link_intersect", f"{select}{literal(x)} INTERSECT {select}{literal(y)}",
                     (f"{s.plural} {phrase.format(v=f'both {x} and {y}')}",), "extra")
        yield listed("link_union", f"{select}{literal(x)} UNION {select}{literal(y)}",
                     (f"{s.plural} {phrase.format(v=f'{x} or {y}')}",), "extra")


RELATION_TEMPLATES = (child_by_parent, per_parent, subqueries)
