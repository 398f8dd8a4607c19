"""Standard SQLite SELECT -> pipe SQL over the sqlglot AST. See pipe.py for the public API and the form.

Each method returns a list of steps, (operator name, text); the first step is `FROM ...`, every
other one starts with `|> `. Expressions are written by sqlglot's SQLite generator; nested
queries are rewritten themselves (inline) and put back in by placeholder.
"""

from __future__ import annotations

from sqlglot import exp

from t2s_pipeline.sql.pipe_aggregate import aggregate_steps
from t2s_pipeline.sql.pipe_scope import (
    NESTED, PLAIN, Step, Unsupported, aggregates, ident, key_of, nested_queries, output_name, plain_item,
    replace_in_scope, same_column, strip_table, unalias, walk_scope, window_or_strip, windows, write,
)

_SETOPS = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}
# Operands of these take a double-quoted word as a string literal when no schema says otherwise.
_VALUE_PARENTS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In, exp.Between,
                  exp.Glob, exp.Tuple)


class Rewriter:
    def __init__(self, known_columns: set[str] | None = None, pipe_subqueries: bool = True, bare: str = "group"):
        self.known = {c.lower() for c in known_columns} if known_columns is not None else None
        self.pipe_subqueries = pipe_subqueries
        self.bare = bare  # "group" | "wrap": where bare columns of an aggregation go
        self.flags: set[str] = set()  # choices made that an alternative rewrite could make otherwise
        self.with_separator = "\n"  # between a WITH and its FROM; a nested query is written on one line

    # ---- queries -------------------------------------------------------------------------------
    def query(self, node: exp.Expr) -> list[Step]:
        while isinstance(node, exp.Subquery):
            node = node.this
        if isinstance(node, tuple(_SETOPS)):
            return self.setop(node)
        if isinstance(node, exp.Select):
            return self.select(node)
        raise Unsupported(node.key, write(node)[:80])

    def setop(self, node: exp.Expr) -> list[Step]:
        with_ = self.with_clause(node.args.get("with_"))
        name = _SETOPS[type(node)]
        left = node.this
        left = left.this if isinstance(left, exp.Subquery) and not left.alias else left
        steps = self.query(left)
        quantifier = "DISTINCT" if node.args.get("distinct", True) else "ALL"
        # sqlglot cannot read a pipe query as a set operation's right side: it stays standard SQL.
        steps.append((name, f"|> {name} {quantifier} ({self.standard(node.expression)})"))
        order = node.args.get("order")
        if order:
            terms = [replace_in_scope(o, strip_table) for o in order.expressions]
            steps.append(("ORDER BY", "|> ORDER BY " + ", ".join(self.sql(t) for t in terms)))
        steps += self.limit(node)
        return self.with_first(with_, steps)

    def select(self, node: exp.Select) -> list[Step]:
        with_ = self.with_clause(node.args.get("with_"))
        node = inline_named_windows(node)
        for arg in ("laterals", "prewhere", "qualify", "windows", "connect", "sample", "kind"):
            if node.args.get(arg):
                raise Unsupported(arg.rstrip("_"))
        if node.args.get("distinct") and node.args["distinct"].args.get("on"):
            raise Unsupported("distinct_on")
        from_ = node.args.get("from_")
        if from_ is None:
            raise Unsupported("no_from")
        steps = [("FROM", "FROM " + self.from_item(from_.this))]
        for join in node.args.get("joins") or []:
            steps.append(("JOIN", "|> " + self.join(join)))
        if node.args.get("where"):
            steps.append(("WHERE", "|> WHERE " + self.sql(node.args["where"].this)))

        items = list(node.expressions)
        order = [self.resolve(o, items) for o in (node.args["order"].expressions if node.args.get("order") else [])]
        group = [self.resolve(g, items, ordered=False) for g in (node.args["group"].expressions
                                                                  if node.args.get("group") else [])]
        if node.args.get("group") and (node.args["group"].args.get("rollup") or node.args["group"].args.get("cube")
                                       or node.args["group"].args.get("grouping_sets")):
            raise Unsupported("group_by_rollup")
        having = node.args["having"].this if node.args.get("having") else None
        if having is not None:  # SQLite lets HAVING name a select alias
            aliases = {i.alias.lower(): i.this for i in items if isinstance(i, exp.Alias)}
            having = replace_in_scope(having, lambda n: aliases[n.name.lower()].copy() if isinstance(
                n, exp.Column) and not n.table and n.name.lower() in aliases else None)
        scoped = items + order + ([having] if having is not None else [])
        if group or having is not None or any(aggregates(e) for e in scoped):
            steps += self.aggregate(node, items, group, having, order)
        else:
            steps += self.project(node, items, order)
        if len(steps) == 1:  # `SELECT * FROM t`: still one operator, so the query reads as pipe SQL
            steps.append(("SELECT", "|> SELECT *"))
        return self.with_first(with_, steps)

    # ---- common table expressions -------------------------------------------------------------------
    def with_clause(self, with_: exp.With | None) -> str:
        """`WITH a AS (...), b(x) AS (...)`, each body in pipe form where it can be (one line), else
        standard SQL; a RECURSIVE one stays standard (its body refers to itself). "" without a WITH.

        GoogleSQL pipe syntax puts the WITH before the FROM: `WITH a AS (...) FROM a |> ...`.
        """
        if with_ is None:
            return ""
        recursive = bool(with_.args.get("recursive"))
        if with_.args.get("search") or with_.args.get("cycle"):
            raise Unsupported("with_search")
        parts = []
        for cte in with_.expressions:
            if not isinstance(cte, exp.CTE) or cte.args.get("materialized") is not None:
                raise Unsupported("with_materialized" if isinstance(cte, exp.CTE) else f"with_{cte.key}")
            alias = cte.args["alias"]
            self.learn_names(alias, cte.this)
            body = self.standard(cte.this) if recursive else self.subquery(cte.this)
            parts.append(f"{self.sql(alias)} AS ({body})")
        return "WITH " + ("RECURSIVE " if recursive else "") + ", ".join(parts)

    def with_first(self, with_: str, steps: list[Step]) -> list[Step]:
        """The WITH goes into the first step (`WITH ... FROM t`), so every prefix defines what it reads."""
        if not with_:
            return steps
        (_, first), rest = steps[0], steps[1:]
        return [("WITH", f"{with_}{self.with_separator}{first}"), *rest]

    def learn_names(self, alias: exp.TableAlias, body: exp.Expr) -> None:
        """A CTE's column names are columns too: a double-quoted one is a name, not a string."""
        if self.known is None:
            return
        names = [c.name for c in alias.args.get("columns") or []]
        query = body
        while isinstance(query, (exp.Union, exp.Intersect, exp.Except)):
            query = query.this
        if isinstance(query, exp.Select):
            names += [name for i in query.expressions if (name := output_name(i))]
        self.known |= {n.lower() for n in names}

    def resolve(self, term: exp.Expr, items: list[exp.Expr], ordered: bool = True) -> exp.Expr:
        """An ORDER BY / GROUP BY term with a select alias or a position replaced by its expression."""
        target = term.this if ordered else term
        new = None
        if isinstance(target, exp.Literal) and not target.is_string and target.name.isdigit():
            index = int(target.name) - 1
            if not 0 <= index < len(items):
                raise Unsupported("bad_position")
            new = unalias(items[index]).copy()
        elif isinstance(target, exp.Column) and not target.table:
            for item in items:
                if isinstance(item, exp.Alias) and item.alias.lower() == target.name.lower():
                    new = item.this.copy()
                    break
        if new is None:
            return term
        if not ordered:
            return new
        term = term.copy()
        term.set("this", new)
        return term

    # ---- the tail of a query without aggregation ---------------------------------------------------
    def project(self, node: exp.Select, items: list[exp.Expr], order: list[exp.Expr]) -> list[Step]:
        steps: list[Step] = []
        wins = [w for e in items + order for w in windows(e)]
        if wins:
            step, mapping = self.extend(items, wins)
            steps.append(step)
            items = [plain_item(replace_in_scope(e, lambda n: window_or_strip(n, mapping))) for e in items]
            order = [replace_in_scope(e, lambda n: window_or_strip(n, mapping)) for e in order]
        star = len(items) == 1 and isinstance(items[0], exp.Star)
        if node.args.get("distinct"):
            select = [] if star else [("SELECT", "|> SELECT " + ", ".join(self.sql(i) for i in items))]
            return steps + self.distinct_tail(node, select, items, order)
        if order:
            steps.append(("ORDER BY", "|> ORDER BY " + ", ".join(self.sql(o) for o in order)))
        steps += self.limit(node)
        if not star:
            steps.append(("SELECT", "|> SELECT " + ", ".join(self.sql(i) for i in items)))
        return steps

    def extend(self, items: list[exp.Expr], wins: list[exp.Window]) -> tuple[Step, dict[str, str]]:
        """Window functions computed by EXTEND, each under a name; later steps refer to the names."""
        parts, names = [], {}
        for w in wins:
            k = key_of(w)
            if k in names:
                continue
            alias = next((i.alias for i in items if isinstance(i, exp.Alias) and i.this is w), None)
            names[k] = alias or f"{w.this.key.lower()}_{len(names) + 1}"
            parts.append(f"{self.sql(w)} AS {ident(names[k])}")
        return ("EXTEND", "|> EXTEND " + ", ".join(parts)), names

    def distinct_tail(self, node: exp.Select, select: list[Step], items: list[exp.Expr],
                      order: list[exp.Expr]) -> list[Step]:
        """SELECT DISTINCT: `|> SELECT ... |> DISTINCT |> ORDER BY <output columns> |> LIMIT`; when
        ORDER BY needs a column that is not selected, it goes first: `|> ORDER BY |> SELECT |> DISTINCT`."""
        by_output = [self.by_output(o, items) for o in order]
        if all(o is not None for o in by_output):
            ordered = [("ORDER BY", "|> ORDER BY " + ", ".join(self.sql(o) for o in by_output))] if order else []
            return select + [("DISTINCT", "|> DISTINCT")] + ordered + self.limit(node)
        ordered = [("ORDER BY", "|> ORDER BY " + ", ".join(self.sql(o) for o in order))]
        return ordered + select + [("DISTINCT", "|> DISTINCT")] + self.limit(node)

    def by_output(self, term: exp.Ordered, items: list[exp.Expr]) -> exp.Ordered | None:
        """The ORDER BY term naming an output column (as it must after SELECT), or None."""
        target = term.this
        for item in items:
            name, inner = output_name(item), unalias(item)
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
                if isinstance(target, exp.Column):
                    return replace_in_scope(term, strip_table)
                continue
            if not name:
                continue
            same = (isinstance(target, exp.Column) and ((isinstance(inner, exp.Column) and same_column(target, inner))
                                                        or (not target.table and target.name.lower() == name.lower())))
            if same or key_of(inner) == key_of(target):
                term = term.copy()
                term.set("this", exp.column(name, quoted=not PLAIN.match(name)))
                return term
        return None

    def limit(self, node: exp.Expr) -> list[Step]:
        limit, offset = node.args.get("limit"), node.args.get("offset")
        if limit is None and offset is None:
            return []
        if limit is None:
            raise Unsupported("offset_without_limit")
        for part in (limit, offset):  # sqlglot reads `|> LIMIT 1 + 1` as a crash, not a query
            if part is not None and not (isinstance(part.expression, exp.Literal) and part.expression.is_int):
                raise Unsupported("limit_expression")
        text = "|> LIMIT " + self.sql(limit.expression)
        if offset is not None:
            text += " OFFSET " + self.sql(offset.expression)
        return [("LIMIT", text)]

    # ---- aggregation ------------------------------------------------------------------------------
    def aggregate(self, node, items, group, having, order) -> list[Step]:

        return aggregate_steps(self, node, items, group, having, order)

    # ---- FROM items, joins, expressions -----------------------------------------------------------
    def from_item(self, item: exp.Expr) -> str:
        if isinstance(item, exp.Table):
            if item.args.get("joins") or item.args.get("pivots"):
                raise Unsupported("nested_join")
            return self.sql(item)
        if isinstance(item, exp.Subquery):
            if item.args.get("joins") or item.args.get("pivots"):
                raise Unsupported("nested_join")
            inner = self.subquery(item.this)
            alias = item.args.get("alias")
            return f"({inner})" + (f" AS {self.sql(alias)}" if alias else "")
        raise Unsupported(f"from_{item.key}")

    def join(self, join: exp.Join) -> str:
        if join.args.get("method"):  # NATURAL
            raise Unsupported(f"{join.args['method'].lower()}_join")
        item = self.from_item(join.this)
        side, kind = join.args.get("side") or "", join.args.get("kind") or ""
        on, using = join.args.get("on"), join.args.get("using")
        if not on and not using:
            if side:
                raise Unsupported("outer_join_without_condition")
            return f"CROSS JOIN {item}"
        words = " ".join(w for w in (side, kind if kind not in ("CROSS",) else "") if w)
        text = f"{words + ' ' if words else ''}JOIN {item}"
        if on:
            return f"{text} ON {self.sql(on)}"
        return f"{text} USING ({', '.join(self.sql(u) for u in using)})"

    def subquery(self, query: exp.Expr) -> str:
        """A nested query: pipe form (one line) where it can be rewritten, else standard SQL."""
        if self.pipe_subqueries:
            inner = Rewriter(self.known, True, self.bare)
            inner.with_separator = " "
            try:
                text = " ".join(text for _, text in inner.query(query))
                self.flags |= inner.flags | {"pipe_subquery"}
                return text
            except Unsupported:
                pass
        return self.standard(query)

    def standard(self, query: exp.Expr) -> str:
        node = query.copy()
        for column in list(node.find_all(exp.Column)):
            self.fix_literal(column)
        return write(node)

    def sql(self, node: exp.Expr) -> str:
        """Text of an expression of this scope: nested queries rewritten, quoted words made strings."""
        if not any(isinstance(n, NESTED) or (isinstance(n, exp.Column) and self.literal_for(n) is not None)
                   for n in walk_scope(node)):
            return write(node)  # nothing to change: no copy
        node = node.copy()
        subs = {}
        for query in nested_queries(node):
            key = f"__pipe_subquery_{len(subs)}__"
            subs[key] = self.subquery(query)
            query.replace(exp.column(key))
        for column in [n for n in walk_scope(node) if isinstance(n, exp.Column)]:
            if column is node:
                fixed = self.literal_for(column)
                if fixed is not None:
                    node = fixed
            else:
                self.fix_literal(column)
        text = write(node)
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    def literal_for(self, column: exp.Column) -> exp.Expr | None:
        """SQLite reads a double-quoted word that names no column as a string: write it in single quotes."""
        ident = column.this
        if column.table or not isinstance(ident, exp.Identifier) or not ident.quoted:
            return None
        if self.known is not None:
            return None if ident.name.lower() in self.known else exp.Literal.string(ident.name)
        parent = column.parent
        if isinstance(parent, _VALUE_PARENTS) and (parent.this is not column or isinstance(parent, exp.Tuple)):
            return exp.Literal.string(ident.name)
        return None

    def fix_literal(self, column: exp.Column) -> None:
        fixed = self.literal_for(column)
        if fixed is not None:
            column.replace(fixed)


def inline_named_windows(node: exp.Select) -> exp.Select:
    """`... OVER w ... WINDOW w AS (ORDER BY x)` -> `... OVER (ORDER BY x)`: pipe EXTEND has no WINDOW clause.

    A window that names another (`OVER (w ROWS ...)`) takes the named one's PARTITION BY and ORDER BY
    and keeps its own frame.
    """
    named = node.args.get("windows")
    if not named:
        return node
    node = node.copy()
    definitions = {w.this.name.lower(): w for w in node.args["windows"] if isinstance(w.this, exp.Identifier)}
    scope = list(node.expressions) + ([node.args["order"]] if node.args.get("order") else [])
    for part in scope:
        for window in [n for n in walk_scope(part) if isinstance(n, exp.Window)]:
            alias = window.args.get("alias")
            definition = definitions.get(alias.name.lower()) if isinstance(alias, exp.Identifier) else None
            if definition is None:
                continue
            for arg in ("partition_by", "order", "spec"):
                if not window.args.get(arg) and definition.args.get(arg):
                    window.set(arg, definition.args[arg].copy() if arg != "partition_by"
                               else [e.copy() for e in definition.args[arg]])
            window.set("alias", None)
    node.set("windows", None)
    return node


__all__ = ["Rewriter", "Step", "Unsupported", "inline_named_windows"]
