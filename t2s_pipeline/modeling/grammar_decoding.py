"""Decoding under the database's SQL grammar through llguidance: a logits processor for HF generate.

Each question gets a GrammarContext: its database's grammar (sql_grammar.py) with the values the question
links to columns (value_links.py). The grammar's rules are rendered once per database and set of linked
columns, the schema and text values read once per database. llguidance compiles a grammar lazily (token
masks are computed from a token trie at each step, in native code), so a grammar per question costs a few
tens of milliseconds, not a compile over the vocabulary.

GrammarConstraint keeps one llguidance matcher per written prefix, so beams that reorder and samples that
share a prefix stay right: a row's matcher is its parent prefix's, advanced by the row's last token. Tokens
the grammar refuses get -inf. A row whose matcher is in error, or whose mask allows nothing, is left alone
(the constraint never blocks an answer), as the hand rules do.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from t2s_pipeline.modeling.sql_grammar import grammar_text
from t2s_pipeline.modeling.value_links import QuestionLiterals, column_values, linked_values, question_literals


# Whether strings and numbers must be ones the question states (measured in docs/grammar-decoding.md).
LITERALS_FROM_QUESTION = True


@dataclass(frozen=True)
class GrammarContext:
    """One question's grammar (Lark text for llguidance); tables: its database's tables and columns, for the
    alias scoping a grammar cannot express (empty: not scoped)."""

    grammar: str
    tables: tuple[tuple[str, tuple[str, ...]], ...] = ()


# What the processor adds to the grammar, each measured in docs/grammar-decoding.md:
SCOPE_ALIASES = True  # after `T2.` (an alias the query bound with AS, or a table's name), only that table's columns
KEEP_NUMBERS = True  # where the model's first choice starts a number and the grammar allows one, a number
_QUALIFIED_END = re.compile(r"\b(\w+)\.(\w*)$")


def alias_scope(text: str, tables: tuple) -> tuple[str, tuple[str, ...]] | None:
    """After `alias.` (or `table.`) with the table known: (the column name written so far, the table's columns);
    else None. An alias is bound where the text so far says `table AS alias` (as the hand rules read it)."""
    if text.count("'") % 2 or text.count('"') % 2 or text.count("`") % 2:
        return None
    qualified = _QUALIFIED_END.search(text)
    if not qualified:
        return None
    columns = {t.lower(): cols for t, cols in tables}
    bound = {a.lower(): t.lower() for t, a in re.findall(r"(\w+)\s+AS\s+(\w+)", text, re.I) if t.lower() in columns}
    table = bound.get(qualified.group(1).lower(), qualified.group(1).lower())
    return (qualified.group(2), columns[table]) if table in columns else None


@functools.lru_cache(maxsize=64)
def database_facts(db_path: str) -> tuple[dict[str, list[str]], dict]:
    """A database's tables with their columns, and its text values by column (read once per database)."""
    from t2s_pipeline.sql.schema import read_sqlite_schema

    schema = read_sqlite_schema(db_path)
    tables = {t["name"]: [c["name"] for c in t["columns"]] for t in schema["tables"]}
    return tables, column_values(db_path, tables)


@functools.lru_cache(maxsize=512)
def _cached_grammar(db_path: str, links: tuple[tuple[str, tuple[str, ...]], ...],
                    literals: QuestionLiterals | None, pipe: bool = False) -> str:
    return grammar_text(database_facts(db_path)[0], {c: list(v) for c, v in links}, literals=literals, pipe=pipe)


def question_grammar(question: str, db_path: str | Path, literals: bool | None = None, pipe: bool = False) -> str:
    """The grammar of one question's SQL: its database's names, and its linked values; literals: strings and
    numbers only those the question states (the hand rules' literal policy, in the grammar); pipe: pipe SQL."""
    path = str(Path(db_path).resolve())
    values = database_facts(path)[1]
    links = linked_values(question, values)
    literals = LITERALS_FROM_QUESTION if literals is None else literals
    return _cached_grammar(path, tuple(sorted((c, tuple(v)) for c, v in links.items())),
                           question_literals(question, values) if literals else None, pipe)


def grammar_contexts(questions: list[str], db_paths: list, literals: bool | None = None, pipe: bool = False
                     ) -> list[GrammarContext]:
    """One GrammarContext per question (the text its literals are linked from: question and evidence); pipe: the
    answers are pipe SQL."""
    return [GrammarContext(question_grammar(q, p, literals, pipe), _table_tuple(p)) for q, p in zip(questions, db_paths)]


def _table_tuple(db_path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((t, tuple(c)) for t, c in database_facts(str(Path(db_path).resolve()))[0].items())


_ENGINE_TOKENIZERS: dict[int, tuple[object, object]] = {}


def engine_tokenizer(tokenizer, stop_ids: list[int] | None = None):
    """llguidance's view of a fast HF tokenizer (built once per tokenizer object: about a second on a large one).
    stop_ids: the tokens that end a reply (the grammar allows them where the query may end)."""
    import llguidance.hf

    key = id(tokenizer)
    if key not in _ENGINE_TOKENIZERS or _ENGINE_TOKENIZERS[key][0] is not tokenizer:
        stops = stop_ids or [tokenizer.eos_token_id]
        _ENGINE_TOKENIZERS[key] = (tokenizer, llguidance.hf.from_tokenizer(tokenizer, eos_token=stops[0]
                                                                           if len(stops) == 1 else stops))
    return _ENGINE_TOKENIZERS[key][1]


_COMPILED: dict[tuple[int, str], object] = {}  # (engine tokenizer, grammar) -> a fresh matcher to copy
MAX_COMPILED = 256


def new_matcher(engine_tok, grammar: str):
    """A fresh llguidance matcher for the grammar, copied from one compiled once per grammar text (about 10-20 ms
    a compile, a tenth of a millisecond a copy); a grammar the engine refuses is a clear error."""
    import llguidance

    key = (id(engine_tok), grammar)
    if key not in _COMPILED:
        matcher = llguidance.LLMatcher(engine_tok, grammar, log_level=0)
        if matcher.is_error():
            raise ValueError(f"llguidance refused the SQL grammar: {matcher.get_error()[:500]}")
        if len(_COMPILED) >= MAX_COMPILED:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = matcher
    return _COMPILED[key].deep_copy()


def accepts(engine_tok, grammar: str, token_ids: list[int]) -> bool:
    """Whether the grammar takes exactly these tokens as a whole query (consumed one by one, as in decoding)."""
    matcher = new_matcher(engine_tok, grammar)
    return matcher.consume_tokens(list(token_ids)) and matcher.is_accepting()


def allowed_tokens(matcher, vocab_width: int):
    """The matcher's next-token mask as a bool numpy array of vocab_width (ids past the tokenizer's: refused)."""
    import numpy as np

    bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
    allowed = np.zeros(vocab_width, dtype=bool)
    n = min(vocab_width, bits.size)
    allowed[:n] = bits[:n].astype(bool)
    return allowed


class GrammarConstraint:
    """A transformers logits processor: row r decodes under contexts[r // rows_per_context]'s grammar; the
    query so far is the row after `prompt_width`. `stop_ids` end a reply (allowed where the query may end)."""

    def __init__(self, tokenizer, contexts: list[GrammarContext], prompt_width: int, rows_per_context: int = 1,
                 stop_ids: list[int] | None = None, scope_aliases: bool | None = None, keep_numbers: bool | None = None):
        self.tokenizer, self.contexts = tokenizer, contexts
        self.prompt_width, self.rows_per_context = prompt_width, rows_per_context
        self.scope_aliases = SCOPE_ALIASES if scope_aliases is None else scope_aliases
        self.keep_numbers = KEEP_NUMBERS if keep_numbers is None else keep_numbers
        self.stop_ids = list(stop_ids or [tokenizer.eos_token_id])
        self.engine_tok = engine_tokenizer(tokenizer, self.stop_ids)
        self._ended = set(self.stop_ids) | set(tokenizer.all_special_ids)
        self._matchers: dict[tuple, object] = {}  # (context index, written prefix) -> matcher after it
        self._masks: dict[tuple, object] = {}

    def _matcher(self, ctx: int, written: tuple):
        key = (ctx, written)
        if key not in self._matchers:
            if not written:
                self._matchers[key] = new_matcher(self.engine_tok, self.contexts[ctx].grammar)
            else:
                parent = self._matcher(ctx, written[:-1]).deep_copy()
                parent.consume_token(written[-1])  # a refused token puts the matcher in error: left alone below
                self._matchers[key] = parent
        return self._matchers[key]

    def __call__(self, input_ids, scores):
        import torch

        rows = input_ids[:, self.prompt_width:].tolist()
        keys = []
        for row, written in enumerate(map(tuple, rows)):
            if written and written[-1] in self._ended:
                continue  # the row has ended: generate pads it from here
            key = (row // self.rows_per_context, written)
            keys.append(key)
            if key not in self._masks:
                matcher = self._matcher(*key)
                self._masks[key] = None if matcher.is_error() else self._scoped(
                    allowed_tokens(matcher, scores.shape[1]), key)
            allowed = self._masks[key]
            if allowed is not None and self.keep_numbers:
                allowed = self._number_if_meant(allowed, int(scores[row].argmax()))
            if allowed is not None and allowed.any():
                scores[row, torch.from_numpy(~allowed)] = float("-inf")
        # keep only what the next step can extend: this step's prefixes (and their parents, already consumed)
        live = set(keys)
        self._masks = {k: v for k, v in self._masks.items() if k in live}
        self._matchers = {k: v for k, v in self._matchers.items() if k in live}
        return scores

    def _scoped(self, allowed, key: tuple):
        """The grammar's mask, after an alias with a known table narrowed to tokens that go on with its columns."""
        tables = self.contexts[key[0]].tables
        if not (self.scope_aliases and tables) or "." not in self.tokenizer.decode(list(key[1][-8:])):
            return allowed  # no `alias.` being written (decoding the whole row at every step cost 15%)
        scope = alias_scope(self.tokenizer.decode(list(key[1]), skip_special_tokens=True), tables)
        if scope is None:
            return allowed
        partial, columns = scope[0].lower(), [c.lower() for c in scope[1]]
        texts = token_texts(self.tokenizer)
        for t in allowed.nonzero()[0]:
            piece = texts[t] if t < len(texts) else ""
            run = re.match(r"\w*", piece).group(0)
            word = partial + run.lower()
            if piece[:1] in ('"', "`", "["):
                continue  # a quoted name: left to the grammar
            ok = any(c.startswith(word) for c in columns) if run == piece else word in columns
            allowed[t] = ok
        return allowed

    def _number_if_meant(self, allowed, first_choice: int):
        """Where the model's first choice starts a number, only numbers, when the grammar allows one (a small model
        that means a number and may not write its own writes another, not a name)."""
        starts_number = number_tokens(self.tokenizer, allowed.size)
        if first_choice < allowed.size and starts_number[first_choice]:
            numbers = allowed & starts_number
            if numbers.any():
                return numbers
        return allowed


_TOKEN_FACTS: dict[int, tuple[object, list[str], object]] = {}


def _token_facts(tokenizer):
    """Each token's text and whether it starts with a digit (after blanks), decoded once per tokenizer."""
    import numpy as np

    key = id(tokenizer)
    if key not in _TOKEN_FACTS or _TOKEN_FACTS[key][0] is not tokenizer:
        texts = [tokenizer.decode([t]) for t in range(len(tokenizer))]
        _TOKEN_FACTS[key] = (tokenizer, texts, np.array([t.lstrip(" ")[:1].isdigit() for t in texts], dtype=bool))
    return _TOKEN_FACTS[key]


def token_texts(tokenizer) -> list[str]:
    return _token_facts(tokenizer)[1]


def number_tokens(tokenizer, width: int):
    """A bool array of width: the tokens whose text starts with a digit (after blanks); ids past the tokenizer's: no."""
    import numpy as np

    starts = _token_facts(tokenizer)[2]
    mask = np.zeros(width, dtype=bool)
    mask[:min(width, starts.size)] = starts[:width]
    return mask
