"""The SQLite SELECT language as a grammar per database, for decoding through a structured-generation engine.

What it takes: the query forms Spider, BIRD and SynSQL gold queries use (joins, subqueries, UNION /
INTERSECT / EXCEPT, WITH, window functions, CASE, CAST, LIKE / GLOB, BETWEEN, IN, EXISTS, the date and
math functions, arithmetic, a trailing `;`), keywords in any case, and as identifiers only the
database's tables and columns (bare, "double-quoted", `backticked` or [bracketed], any case, as SQLite
reads them). What it approximates, since a context-free grammar does not track which names a query defines:
- after a qualifier (`T1.`, `singer.`), any column of the database, not only that table's;
- a table alias is any plain name, defined with or without AS; a result column may be named with AS;
  inside a WITH query, the CTE's own names are any plain name (tables and columns alike);
- a double-quoted text that is no column passes as a string literal, as SQLite reads it.
Per question: a column whose values the question states (value linking: a span of the question that equals a
text value of that column, case-insensitively) is compared with `=`, `==`, `!=` or `<>` only to one of
those values (as stored or as the question writes it) or to something that is not a string literal; other
strings, LIKE patterns and IN lists are free.
"""

from __future__ import annotations

import functools
import re

from t2s_pipeline.modeling.grammar_render import (Grammar, Item, Terminal, case_insensitive_gbnf, parse_rules,
                                                  render_rules, terminal_lines)
from t2s_pipeline.modeling.value_links import QuestionLiterals
from t2s_pipeline.sql.schema import SQLITE_KEYWORDS, quote_identifier

# SQLite's scalar, aggregate, date, math and window functions (sqlite.org/lang_corefunc.html and friends).
FUNCTIONS = """min max group_concat string_agg round abs length upper lower substr substring instr
replace trim ltrim rtrim ifnull nullif coalesce iif typeof printf format random char hex unicode quote like glob
date time datetime julianday strftime unixepoch timediff sign sqrt power pow exp ln log log2 log10 floor ceil
ceiling mod pi cast_to_text rank dense_rank row_number ntile lag lead first_value last_value nth_value
percent_rank cume_dist concat concat_ws""".split()
ONE_ARGUMENT_FUNCTIONS = ["count", "sum", "avg", "total"]
TYPE_NAMES = "integer int real text float numeric double decimal varchar char date datetime boolean bigint".split()

RULES = r"""
statement: query ';'?
query: with_clause? compound
with_clause: 'with' 'recursive'? cte cte_more*
cte_more: ',' cte
cte: ALIAS cte_columns? 'as' '(' query ')'
cte_columns: '(' ALIAS alias_more* ')'
alias_more: ',' ALIAS
compound: select_core compound_more* order_by? limit?
compound_more: set_op select_core
set_op: 'union' | 'union' 'all' | 'intersect' | 'except'
select_core: 'select' set_quantifier? result result_more* from_clause? where_clause? group_by? having?
set_quantifier: 'distinct' | 'all'
result_more: ',' result
result: '*' | qualifier '.' '*' | expr result_name?
result_name: 'as' ALIAS | 'as' STRING
from_clause: 'from' join_source
join_source: table_item join_more*
join_more: join_op table_item join_condition?
join_op: ',' | 'natural'? join_kind? 'join'
join_kind: 'left' 'outer'? | 'right' 'outer'? | 'full' 'outer'? | 'inner' | 'cross'
join_condition: 'on' expr | 'using' '(' column_name column_more* ')'
column_more: ',' column_name
table_item: table_ref table_alias? | '(' query ')' table_alias? | '(' join_source ')'
table_alias: 'as'? ALIAS
where_clause: 'where' expr
group_by: 'group' 'by' expr expr_more*
expr_more: ',' expr
having: 'having' expr
order_by: 'order' 'by' ordering ordering_more*
ordering_more: ',' ordering
ordering: expr collation? direction? nulls_order? | ALIAS direction?
direction: 'asc' | 'desc'
nulls_order: 'nulls' 'first' | 'nulls' 'last'
collation: 'collate' ALIAS
limit: 'limit' expr offset?
offset: 'offset' expr | ',' expr
expr: operand rest? LINKED_EXPR
rest: symbol_op operand rest? | word_op operand rest? | like_op like_operand rest? | postfix rest? LINKED_REST
symbol_op: symbol_op_not_equality | equality
symbol_op_not_equality: arith_op | '&' | '|' | '<<' | '>>' | '<' | '<=' | '>' | '>='
equality: '=' | '==' | '!=' | '<>'
word_op: 'and' | 'or' | 'is' | 'is' 'not' | 'is' 'distinct' 'from' | 'is' 'not' 'distinct' 'from'
like_op: 'not'? match_op
match_op: 'like' | 'glob' | 'regexp' | 'match'
like_operand: PATTERN | operand_not_string
postfix: 'not'? 'in' '(' in_body? ')' | 'not'? 'in' table_ref | 'not'? 'between' between_bounds
  | 'isnull' | 'notnull' | 'not' 'null' | 'escape' operand | 'collate' ALIAS
in_body: query | expr expr_more*
arith: operand arith_more*
arith_more: arith_op operand
arith_op: '+' | '-' | '*' | '/' | '%' | '||'
operand: primary | STRING | sign operand | 'not' operand
operand_not_string: primary | sign operand_not_string | 'not' operand_not_string
sign: '-' | '+' | '~'
primary: NUMBER | 'null' | 'true' | 'false' | 'current_date' | 'current_time' | 'current_timestamp'
  | column_ref | function_call | 'cast' '(' expr 'as' type_name ')' | case_expr
  | '(' expr ')' | '(' expr expr_more+ ')' | '(' query ')' | 'exists' '(' query ')'
column_ref: FREE_COLUMN | qualifier '.' FREE_COLUMN
qualifier: table_ref | QUALIFIER_ALIAS
case_expr: 'case' expr? when_then+ else_part? 'end'
when_then: 'when' expr 'then' expr
else_part: 'else' expr
type_name: TYPE_NAME | TYPE_NAME '(' NUMBER ')' | TYPE_NAME '(' NUMBER ',' NUMBER ')'
function_call: FUNCTION '(' arguments? ')' filter? over? | ONE_ARGUMENT '(' one_argument ')' filter? over?
one_argument: '*' | 'distinct'? expr
arguments: '*' | 'distinct'? expr expr_more* argument_order?
argument_order: 'order' 'by' ordering ordering_more*
filter: 'filter' '(' 'where' expr ')'
over: 'over' '(' window? ')' | 'over' ALIAS
window: partition order_by? frame? | order_by frame? | frame
partition: 'partition' 'by' expr expr_more*
frame: frame_unit frame_bound | frame_unit 'between' frame_bound 'and' frame_bound
frame_unit: 'rows' | 'range' | 'groups'
frame_bound: 'unbounded' 'preceding' | 'unbounded' 'following' | 'current' 'row' | arith 'preceding'
  | arith 'following'
"""
# Each linked column k: compared with `=` (==, !=, <>), it takes one of its linked values or a non-string.
LINKED_RULES = r"""
linked_{k}: LINKED_COLUMN_{k} | qualifier '.' LINKED_COLUMN_{k}
linked_{k}_rest: equality LINKED_VALUE_{k} rest? | equality operand_not_string rest?
  | symbol_op_not_equality operand rest? | word_op operand rest? | like_op like_operand rest? | postfix rest? LINKED_AFTER
"""
# Pipe SQL (GoogleSQL's pipe syntax as sql/pipe.py writes it): FROM, then `|>` operators; a subquery may be
# written either way. A name an AGGREGATE gives (count_all, avg_age, count_distinct_title: pipe_aggregate.py)
# is a column after it.
PIPE_RULES = r"""
pipe_query: 'from' join_source pipe_step*
pipe_step: '|>' pipe_op
pipe_op: 'where' expr | 'select' set_quantifier? result result_more* | 'extend' result result_more*
  | 'aggregate' aggregate_item aggregate_more* pipe_group? | 'aggregate' pipe_group
  | 'natural'? join_kind? 'join' table_item join_condition? | order_by | 'limit' expr offset? | 'distinct'
  | pipe_set_word set_quantifier? '(' query ')' pipe_set_more* | 'as' ALIAS | 'drop' column_name column_more*
  | 'rename' rename_item rename_more* | 'set' set_item set_more*
aggregate_item: expr result_name? direction?
aggregate_more: ',' aggregate_item
pipe_group: 'group' 'by' aggregate_item aggregate_more*
pipe_set_word: 'union' | 'intersect' | 'except'
pipe_set_more: ',' '(' query ')'
rename_item: column_name 'as'? ALIAS
rename_more: ',' rename_item
set_item: column_name '=' expr
set_more: ',' set_item
"""
PLAIN_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Free names, numbers and strings are bounded: unbounded, a small model looped on one name until the token
# limit (`SUM(bedsexperiencebedsbeds...`, bench/grammar_decoding.py), leaving a query that does not parse.
BOUNDED_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,39}"
STRING_GBNF = "\"'\" ([^'] | \"''\")* \"'\" | \"\\\"\" ([^\"] | \"\\\"\\\"\")* \"\\\"\""  # '...' or "..."


def identifier_forms(name: str) -> list[str]:
    """The spellings SQLite reads as this name: bare (when it needs no quotes), "double", `back` and [bracket]."""
    forms = [f'"{name.replace(chr(34), chr(34) * 2)}"', f"`{name.replace('`', '``')}`", f"[{name}]"]
    if quote_identifier(name) == name:  # a plain name that is no SQLite keyword
        forms.insert(0, name)
    return forms


def name_terminal(names: list[str]) -> Terminal:
    """One terminal matching any spelling of any of names, case-insensitively (as SQLite compares names)."""
    forms = sorted({f for n in names for f in identifier_forms(n)})
    if not forms:
        raise ValueError("a name terminal needs at least one name")
    lark = " | ".join(_lark_string(f, case_insensitive=True) for f in forms)
    gbnf = " | ".join(f"({case_insensitive_gbnf(f)})" for f in forms)
    return Terminal(lark, gbnf, frozenset(f[0].isalnum() or f[0] == "_" for f in forms),
                    frozenset(f[-1].isalnum() or f[-1] == "_" for f in forms))


def words_terminal(words: list[str]) -> Terminal:
    return Terminal(" | ".join(_lark_string(w, True) for w in words),
                    " | ".join(f"({case_insensitive_gbnf(w)})" for w in words))


def string_literal_terminal(values, any_case: bool = True, quotes: tuple[str, ...] = ("'", '"')) -> Terminal:
    """A terminal for these string values in single or double quotes (SQLite reads both as a string where no
    column has the name); any_case: in any case (Spider's gold writes 'haiti' for the stored 'Haiti')."""
    forms = sorted({q + v.replace(q, q * 2) + q for v in values for q in quotes})
    gbnf = (lambda f: f"({case_insensitive_gbnf(f)})") if any_case else _gbnf_string
    return Terminal(" | ".join(_lark_string(f, any_case) for f in forms), " | ".join(map(gbnf, forms)),
                    frozenset({False}), frozenset({False}))


DOUBLE_QUOTED = (r'/"([^"]|""){0,200}"/', "\"\\\"\" ([^\"] | \"\\\"\\\"\")* \"\\\"\"")


def with_double_quoted(terminal: Terminal) -> Terminal:
    """The terminal, or any double-quoted text: SQLite reads "x" as a name first, and the hand rules never checked
    it; Spider's gold writes `IsOfficial = "T"` where no question states it."""
    return Terminal(f"{terminal.lark} | {DOUBLE_QUOTED[0]}", f"{terminal.gbnf} | {DOUBLE_QUOTED[1]}",
                    terminal.starts, terminal.ends)


def exact_terminal(texts, starts: frozenset[bool] = frozenset({True})) -> Terminal:
    """A terminal for exactly these texts (numbers as the question writes them)."""
    return Terminal(" | ".join(_lark_string(t, False) for t in texts), " | ".join(map(_gbnf_string, texts)),
                    starts, frozenset({True}))


def _gbnf_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _lark_string(text: str, case_insensitive: bool) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"' + ("i" if case_insensitive else "")


BASE_TERMINALS = {
    "NUMBER": Terminal(r"/[0-9]{1,18}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,3})?|\.[0-9]{1,12}([eE][+-]?[0-9]{1,3})?/",
                       r'[0-9]+ ("." [0-9]*)? ([eE] [+-]? [0-9]+)? | "." [0-9]+ ([eE] [+-]? [0-9]+)?',
                       frozenset({True, False})),
    "PATTERN": Terminal(r"""/'([^']|''){0,200}'|"([^"]|""){0,200}"/""", STRING_GBNF, frozenset({False}),
                        frozenset({False})),  # a LIKE (GLOB, ...) pattern: any string unless literals say
    "STRING": Terminal(r"""/'([^']|''){0,200}'|"([^"]|""){0,200}"/""", STRING_GBNF, frozenset({False}), frozenset({False})),
    # a name the query defines: any plain name but a keyword (`FROM singer WHERE` is no alias); GBNF has no
    # negation, so there (xgrammar, timing only) a keyword passes as an alias
    "ALIAS": Terminal(f"/{BOUNDED_NAME}/ & ~/(?i:{'|'.join(sorted(SQLITE_KEYWORDS))})/", "[A-Za-z_] [A-Za-z0-9_]*"),
    # a table alias before `.`: at most 3 characters (T1, t2, a; every alias qualifier of Spider dev's gold has 2),
    # so a small model cannot start a name of another database there (`beds_idexperience...` on the demo)
    "QUALIFIER_ALIAS": Terminal(f"/[A-Za-z_][A-Za-z0-9_]{{0,2}}/ & ~/(?i:{'|'.join(sorted(SQLITE_KEYWORDS))})/",
                                "[A-Za-z_] [A-Za-z0-9_]? [A-Za-z0-9_]?"),
    "FUNCTION": words_terminal(FUNCTIONS),
    # aggregates of one argument: SUM(a, b) is no query SQLite (nor sqlglot) runs
    "ONE_ARGUMENT": words_terminal(ONE_ARGUMENT_FUNCTIONS),
    "TYPE_NAME": words_terminal(TYPE_NAMES),
}


def sql_grammar(tables: dict[str, list[str]], linked: dict[str, list[str]] | None = None,
                literals: QuestionLiterals | None = None, pipe: bool = False) -> Grammar:
    """The grammar of one database's queries (grammar_pieces, parsed)."""
    rules, terminals = grammar_pieces(tables, linked, literals, pipe)
    return _parsed(rules, terminals)


def _parsed(rules: str, terminals: dict[str, Terminal]) -> Grammar:
    return Grammar(with_cte_rules(parse_rules(rules)), terminals, start="statement")


def grammar_pieces(tables: dict[str, list[str]], linked: dict[str, list[str]] | None = None,
                   literals: QuestionLiterals | None = None, pipe: bool = False) -> tuple[str, dict[str, Terminal]]:
    """The rules (notation text) and terminals of one database's queries. tables: table -> its columns. linked: column -> the string
    values a question states for it (value linking); those columns are compared with `=` only to them.
    literals: the question's strings, LIKE patterns and numbers as the hand rules allow them (value_links.py);
    then every string and number is one of them and the order word the question rules out is refused."""
    if not tables or not any(tables.values()):
        raise ValueError("a SQL grammar needs the database's tables and columns; got none")
    columns = sorted({c for cols in tables.values() for c in cols}, key=str.lower)
    linked_lower = {c.lower(): sorted(set(v)) for c, v in (linked or {}).items() if v}
    linked_columns = [c for c in columns if c.lower() in linked_lower]
    free_columns = [c for c in columns if c.lower() not in linked_lower]
    if not free_columns:  # every column linked: a corner a grammar need not serve; decode names freely instead
        linked_columns, free_columns = [], columns
    terminals = {**BASE_TERMINALS, "TABLE": name_terminal(sorted(tables)), "COLUMN": name_terminal(columns),
                 "FREE_COLUMN": name_terminal(free_columns)}
    rules = RULES + "table_ref: TABLE\ncolumn_name: COLUMN\n"
    if pipe:  # pipe queries (subqueries either way), and the names AGGREGATE gives as columns
        rules = rules.replace("statement: query ';'?", "statement: pipe_query ';'?").replace(
            "query: with_clause? compound", "query: with_clause? compound | pipe_query").replace(
            "column_ref: FREE_COLUMN |", "column_ref: DERIVED_NAME | FREE_COLUMN |") + PIPE_RULES
        terminals["DERIVED_NAME"] = Terminal(f"/(?i:{'|'.join(ONE_ARGUMENT_FUNCTIONS + ['min', 'max'])})"
                                             "(_[A-Za-z0-9_]{1,60})?/", "[a-z]+")
    between = "between_bounds: arith 'and' arith\n"
    if literals is not None:
        # as the question writes them, or in lower case (Spider's gold: '%al%' for "'Al'", 'korea' for "'Korea '")
        strings = sorted(set(literals.strings) | {s.lower() for s in literals.strings})
        if strings:
            terminals["STRING"] = with_double_quoted(string_literal_terminal(strings, False, ("'",)))
        # LIKE takes a pattern, or a value the question states ('korea' matches as it is), not any span
        patterns = sorted(set(literals.patterns) | {p.lower() for p in literals.patterns}) + (
            strings if literals.values_stated else [])
        if patterns:
            terminals["PATTERN"] = with_double_quoted(string_literal_terminal(patterns, False, ("'",)))
        terminals["NUMBER"] = exact_terminal(literals.numbers)
        between = distinct_between_bounds(literals.numbers, terminals)
        kept = [f"'{w}'" for w in ("asc", "desc") if w not in literals.refused_words]
        rules = rules.replace("direction: 'asc' | 'desc'", "direction: " + " | ".join(kept))
    rules += between
    linked_expr, linked_after = "", ""
    for k, column in enumerate(linked_columns):
        terminals[f"LINKED_COLUMN_{k}"] = name_terminal([column])
        terminals[f"LINKED_VALUE_{k}"] = string_literal_terminal(_linked_forms(linked_lower[column.lower()]),
                                                                 any_case=False)
        rules += LINKED_RULES.format(k=k)
        linked_expr += f" | linked_{k} linked_{k}_rest?"
        linked_after += f" | symbol_op linked_{k} linked_{k}_rest? | word_op linked_{k} linked_{k}_rest?"
    rules = rules.replace("LINKED_EXPR", linked_expr).replace("LINKED_REST", linked_after)
    rules = rules.replace("LINKED_AFTER", linked_after)
    return rules, terminals


def _linked_forms(values: list[str]) -> list[str]:
    """A linked value as stored, as the question writes it (both are in values) and in lower case (Spider's gold
    writes 'haiti' for 'Haiti'), not in any case: a small model let free in the case wrote 'EaGle airlineS'."""
    return sorted(set(values) | {v.lower() for v in values})


def distinct_between_bounds(numbers, terminals: dict) -> str:
    """BETWEEN's bounds where numbers are the question's: two different numbers (a small model wrote `BETWEEN 109.99
    AND 109.99` for "from 109.99 to 122.99"), or bounds that are not both plain numbers. Adds the terminals."""
    alternatives = ["operand_not_number 'and' arith", "arith 'and' operand_not_number"]
    for k, number in enumerate(numbers):
        others = [n for n in numbers if n != number]
        if others:
            terminals[f"NUMBER_IS_{k}"] = exact_terminal([number])
            terminals[f"NUMBER_NOT_{k}"] = exact_terminal(others)
            alternatives.append(f"NUMBER_IS_{k} 'and' NUMBER_NOT_{k}")
    return ("between_bounds: " + " | ".join(alternatives) + "\n"
            "operand_not_number: column_ref | function_call | STRING | case_expr | '(' expr ')' | '(' query ')'"
            " | 'cast' '(' expr 'as' type_name ')'\n")


def with_cte_rules(rules: dict[str, list[list[Item]]]) -> dict[str, list[list[Item]]]:
    """The rules plus a copy (`<rule>_cte`) for queries with a WITH clause, where a table may also be a CTE
    and a column one of its columns: any plain name (a grammar does not track the names a query defines)."""
    copy = {f"{name}_cte": [[Item(f"{i.atom}_cte" if i.atom in rules else i.atom, i.quantifier) for i in items]
                            for items in alternatives]
            for name, alternatives in rules.items() if name != "statement"}
    copy["table_ref_cte"].append([Item("ALIAS")])
    copy["column_ref_cte"] += [[Item("ALIAS")], [Item("qualifier_cte"), Item("'.'"), Item("ALIAS")]]
    rules = {**rules, **copy}
    rules["query"] = [[Item("compound")], [Item("with_clause_cte"), Item("compound_cte")]] + [
        alternative for alternative in rules["query"] if alternative[0].atom == "pipe_query"]
    return rules


def grammar_text(tables: dict[str, list[str]], linked: dict[str, list[str]] | None = None,
                 dialect: str = "lark", literals: QuestionLiterals | None = None, pipe: bool = False) -> str:
    """The grammar as text for the engine: Lark for llguidance (and vLLM's guidance backend), GBNF for xgrammar.
    The rules are rendered once per shape (their text and the terminals' word edges), the terminals per call: a
    grammar per question costs its literals, not a render (about 20 ms)."""
    rules, terminals = grammar_pieces(tables, linked, literals, pipe)
    shape = tuple((name, t.starts, t.ends) for name, t in terminals.items())
    return _rendered_rules(rules, shape, dialect) + terminal_lines(terminals, dialect)


@functools.lru_cache(maxsize=256)
def _rendered_rules(rules: str, shape: tuple, dialect: str) -> str:
    return render_rules(_parsed(rules, {name: Terminal("", "", starts, ends) for name, starts, ends in shape}), dialect)
