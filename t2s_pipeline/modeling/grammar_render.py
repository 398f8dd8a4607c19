"""A small grammar notation rendered to Lark (llguidance) or GBNF (xgrammar, llama.cpp), whitespace placed for SQL.

Rules are written one per line, `name: alternative | alternative`, a line starting with `|` going on with
the rule above. An alternative is a sequence of items, each an atom with an optional `?`, `*` or `+`:
a rule (lowercase), a terminal (UPPERCASE, given with its definitions), or a quoted text: `'select'` (a
word: matched case-insensitively, as SQLite does) or `'<='` (punctuation, matched as written). No
groups and no rule that can match nothing: write a helper rule and `?` instead.

Why this and not Lark's `%ignore`: an engine's lexer cuts `selectname` into `select` + `name` (no
lookahead), so ignored whitespace would let the model glue two words into text SQLite cannot read. Here
whitespace is placed by the renderer: required between an item that may end with a word character and
one that may start with one, optional elsewhere. Where an item may start either way (an expression after
WHERE) the space is required: `WHERE(x)` is refused, a rare spelling; `WHEREx` never passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"\w+")
OPTIONAL_SPACE, REQUIRED_SPACE = "_o", "_W"


@dataclass(frozen=True)
class Terminal:
    """A terminal's Lark and GBNF bodies, and whether its text may start / end with a word character."""

    lark: str
    gbnf: str
    starts: frozenset[bool] = frozenset({True})  # True: may start with a word character; False: with another
    ends: frozenset[bool] = frozenset({True})


@dataclass(frozen=True)
class Item:
    atom: str  # a rule name, a TERMINAL, or a quoted text
    quantifier: str = ""  # "", "?", "*", "+"


def parse_rules(text: str) -> dict[str, list[list[Item]]]:
    """The rules of the notation above: name -> alternatives -> items."""
    rules: dict[str, list[list[Item]]] = {}
    name = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head = re.match(r"([a-z_][a-z0-9_]*)\s*:(?!:)", line)
        if head:
            name, line = head.group(1), line[head.end():]
            if name in rules:
                raise ValueError(f"grammar rule {name!r} is defined twice")
            rules[name] = []
        elif not line.startswith("|") or name is None:
            raise ValueError(f"grammar line neither starts a rule nor goes on with one: {line!r}")
        for alternative in _split_alternatives(line):
            items = [Item(m.group(1), m.group(2)) for m in re.finditer(r"('(?:[^'\\]|\\.)*'|[A-Za-z_]\w*)([?*+]?)",
                                                                       alternative)]
            if items:
                rules[name].append(items)
    return rules


def _split_alternatives(line: str) -> list[str]:
    """A line's alternatives: split at the `|` outside quotes."""
    parts, current, quoted = [], "", False
    for ch in line:
        if ch == "'" and not current.endswith("\\"):
            quoted = not quoted
        if ch == "|" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in parts + [current] if p.strip()]


class Grammar:
    """Rules and terminals, with the word-edge facts the renderer places whitespace by."""

    def __init__(self, rules: dict[str, list[list[Item]]], terminals: dict[str, Terminal], start: str):
        self.rules, self.terminals, self.start = rules, terminals, start
        for name, alternatives in rules.items():
            for items in alternatives:
                for item in items:
                    if not (item.atom.startswith("'") or item.atom in rules or item.atom in terminals):
                        raise ValueError(f"grammar rule {name!r} names {item.atom!r}, which is neither a rule nor a "
                                         "terminal")
        self.first = self._edges(first=True)
        self.last = self._edges(first=False)

    def _atom_edge(self, atom: str, edges: dict, first: bool) -> set[bool]:
        """The word-ness of the atom's first (or last) character: {True} word, {False} other, both, or not known yet."""
        if atom.startswith("'"):
            text = _unquote(atom)
            return {bool(WORD.fullmatch(text[0] if first else text[-1]))}
        if atom in self.terminals:
            t = self.terminals[atom]
            return set(t.starts if first else t.ends)
        return edges[atom]

    def _edges(self, first: bool) -> dict[str, set[bool]]:
        """For each rule, whether its text can start (first) or end (last) with a word character, by fixed point."""
        edges: dict[str, set[bool]] = {name: set() for name in self.rules}
        changed = True
        while changed:
            changed = False
            for name, alternatives in self.rules.items():
                found = set()
                for items in alternatives:
                    for item in (items if first else reversed(items)):
                        found |= self._atom_edge(item.atom, edges, first)
                        if item.quantifier not in ("?", "*"):
                            break
                if found - edges[name]:
                    edges[name] |= found
                    changed = True
        return edges

    def edge(self, atom: str, first: bool) -> set[bool]:
        return self._atom_edge(atom, self.first if first else self.last, first)


def _unquote(atom: str) -> str:
    return atom[1:-1].replace("\\'", "'").replace("\\\\", "\\")


class _Renderer:
    """Renders each rule once per edge it follows (`__w`: the text before may end with a word character, `__n`:
    it does not), the whitespace written before each terminal: required after a word edge when the terminal may
    start with a word character, optional elsewhere. Where an optional or repeated item leaves two edges, a
    helper rule per edge carries the rest of the sequence."""

    def __init__(self, grammar: Grammar, atom_text):
        self.g, self.atom_text = grammar, atom_text
        self.out: dict[str, str] = {}
        self.todo: list[tuple[str, str]] = []

    def ref(self, rule: str, edge: str) -> str:
        name = f"{rule}__{edge}"
        if name not in self.out:
            self.out[name] = ""  # reserved until rendered
            self.todo.append((rule, edge))
        return name

    def run(self, start: str) -> str:
        first = self.ref(start, "n")
        while self.todo:
            rule, edge = self.todo.pop()
            bodies = [self.sequence(f"{rule}__{edge}_{k}", items, 0, edge)
                      for k, items in enumerate(self.g.rules[rule])]
            self.out[f"{rule}__{edge}"] = " | ".join(bodies)
        return first

    def atom(self, atom: str, edge: str) -> str:
        if atom in self.g.rules:
            return self.ref(atom, edge)
        space = REQUIRED_SPACE if edge == "w" and True in self.g.edge(atom, True) else OPTIONAL_SPACE
        return f"{space} {self.atom_text(atom)}"

    def sequence(self, key: str, items: list[Item], at: int, edge: str) -> str:
        """The rendering of items[at:] after text ending at `edge`."""
        parts: list[str] = []
        while at < len(items):
            item = items[at]
            one = self.atom(item.atom, edge)
            after = "w" if True in self.g.edge(item.atom, False) else "n"
            if item.quantifier == "":
                parts.append(one)
                edge, at = after, at + 1
                continue
            loop = item if item.quantifier in "*+" else None
            taken = f"{one} {self._helper(key, items, at + 1, after, loop)}"
            if item.quantifier == "+":
                parts.append(taken)
            else:
                parts.append(f"({taken} | {self._helper(key, items, at + 1, edge, None)})")
            break
        return " ".join(parts)

    def _helper(self, key: str, items: list[Item], at: int, edge: str, loop: Item | None) -> str:
        """A rule for items[at:] after text ending at `edge`; with loop, more of that item may come first."""
        name = f"{key}_{at}{edge}{'_loop' if loop else ''}"
        if name in self.out:
            return name
        self.out[name] = ""  # reserved: a loop refers to itself
        rest = self.sequence(key, items, at, edge) or EMPTY
        if loop is not None:
            rest = f"{rest} | {self.atom(loop.atom, edge)} {name}"
        self.out[name] = rest
        return name


EMPTY = "__EMPTY__"
# Whitespace between two terminals: bounded, so that a model cannot loop on blanks (one line break at most).
SPACE = r"[ \t]{1,12}|[ \t]{0,4}\n[ \t]{0,16}"


def render(grammar: Grammar, dialect: str) -> str:
    """The grammar as Lark (llguidance) or GBNF (xgrammar) text; leading and trailing whitespace allowed."""
    return render_rules(grammar, dialect) + terminal_lines(grammar.terminals, dialect)


def terminal_lines(terminals: dict[str, Terminal], dialect: str) -> str:
    """The terminals' definitions, the last lines of a rendered grammar."""
    if dialect == "lark":
        return "".join(f"{name}: {t.lark}\n" for name, t in terminals.items())
    return "".join(f"{name.lower().replace('_', '-')}-t ::= {t.gbnf}\n" for name, t in terminals.items())


def render_rules(grammar: Grammar, dialect: str) -> str:
    """The rendered grammar up to its terminals' definitions (which depend only on the terminals' word edges: a
    grammar whose terminals have the same names and edges renders the same rules)."""
    if dialect not in ("lark", "gbnf"):
        raise ValueError(f"grammar dialect must be 'lark' or 'gbnf', got {dialect!r}")
    lark = dialect == "lark"

    def atom_text(atom: str) -> str:
        if atom.startswith("'"):
            return _literal(_unquote(atom), lark)
        return atom if lark else atom.lower().replace("_", "-") + "-t"

    renderer = _Renderer(grammar, atom_text)
    first = renderer.run(grammar.start)
    empty = "" if lark else '""'
    arrow = ":" if lark else " ::="
    out = [f"{'start' if lark else 'root'}{arrow} {_rename(f'{first} {OPTIONAL_SPACE}', lark)}"]
    out += [f"{_rule_name(name, lark)}{arrow} {_rename(body.replace(EMPTY, empty), lark)}"
            for name, body in renderer.out.items()]
    if lark:
        out += [f"{OPTIONAL_SPACE}: {REQUIRED_SPACE}?", f"{REQUIRED_SPACE}: /{SPACE}/"]
    else:
        out += ["ows ::= rws?", "rws ::= [ \\t]{1,12} | [ \\t]{0,4} \"\\n\" [ \\t]{0,16}"]
    return "\n".join(out) + "\n"


def _rule_name(name: str, lark: bool) -> str:
    if lark:
        return name
    return {"_o": "ows", "_W": "rws"}.get(name, name.replace("_", "-").lower())


def _rename(body: str, lark: bool) -> str:
    """GBNF names use dashes; Lark keeps underscores (and a leading `_` inlines a rule or terminal)."""
    if lark:
        return body
    out = []
    for token in re.split(r"(\"(?:[^\"\\]|\\.)*\"|\[[^\]]*\])", body):
        if token.startswith('"') or token.startswith("["):
            out.append(token)
        else:
            out.append(re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b", lambda m: _rule_name(m.group(0), False), token))
    return "".join(out)


def _literal(text: str, lark: bool) -> str:
    """A quoted text: a word case-insensitively, punctuation as written."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if WORD.fullmatch(text):
        if lark:
            return f'"{escaped}"i'
        return " ".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else f'"{c}"' for c in text)
    return f'"{escaped}"'


def case_insensitive_gbnf(text: str) -> str:
    """A GBNF sequence matching text with its letters in either case."""
    out = []
    for c in text:
        if c.isalpha() and c.lower() != c.upper():
            out.append(f"[{c.lower()}{c.upper()}]")
        else:
            out.append('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(out) if out else '""'
