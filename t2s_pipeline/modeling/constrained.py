"""Constrained decoding for SQL: literals come from the question, identifiers from the database.

A small model writes the right query shape with the wrong literal (`founded_year < 1879` for "under
1920") or a column of another database. Like PICARD (Scholak et al., 2021), a logits processor checks
the most likely next tokens and keeps those that can still lead to a valid query:
- a single-quoted string is a span of the question from a word's start to a word's end; where the
  question states values of the database (value linking, as BRIDGE does: its spans that equal a text
  value), one of those values. A LIKE pattern is a span with `%` at one or both ends that matches some
  value ('E%': a value starts with "E"; only 'E%' where the question says "starts with E", '%E' for
  "ends with E"), never a function word alone ('%of%'). Every prefix allowed can still be completed;
- a number (not part of a name such as T1) is one the question states, or 0, 1, or the value of a
  number word it uses ("two" -> 2); when the most likely token starts a number, only such numbers are
  kept (a number is never swapped for a name); BETWEEN's two bounds differ;
- any other word is an SQL keyword or function, an alias (T1..., or one the query defines with AS or
  WITH), or a table or column of the question's database (case-insensitive); after `T2.`, a column of
  T2's table; a question that asks for descending order alone refuses ASC, ascending alone DESC. A `)`
  closes an open `(`, and the query ends outside parentheses and literals.
Inside a literal, when none of the top_k tokens passes, it looks among the top wide_k (a small model's
first choices there are values it remembers from training); when none passes there either, the scores
are left alone: the constraint never blocks an answer. Double-quoted and backticked text is not checked.
Numbers and strings a question does not state as written cannot be written: on Spider dev 24 of the
972 gold queries that have their database (bench/constraint_coverage.py): 'France' for "French", 'cat'
for "cats", 'usa' for "United States"; switch the constraint off for data whose values come from
elsewhere.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from t2s_pipeline.modeling.sql_context import SqlContext

_NUMBER_END = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?)$")
_QUALIFIED_END = re.compile(r"\b(\w+)\.(\w*)$")
_PATTERN_START = re.compile(r"\bLIKE\s*'[^']*$", re.I)


@dataclass
class QueryState:
    """Where a partly written query stands, read once per decoding step."""

    text: str
    mode: str  # "free" (inside double quotes or backticks, or a name being defined), "string", "number", "words"
    so_far: str = ""  # the string's content or the number's digits so far; the open word in "words"
    aliases: frozenset[str] = frozenset()
    column_of: str | None = None  # after `alias.`: the alias's table
    pattern: bool = False  # "string": the string is a LIKE pattern

    @classmethod
    def read(cls, text: str, tables: dict) -> "QueryState":
        if text.count('"') % 2 or text.count("`") % 2:
            return cls(text, "free")
        if text.count("'") % 2:
            return cls(text, "string", text[text.rindex("'") + 1:], pattern=bool(_PATTERN_START.search(text)))
        number = _NUMBER_END.search(text)
        if number:
            return cls(text, "number", number.group(1))
        if re.search(r"\b(AS|WITH|WITH\s+RECURSIVE)\s+\w*$", text, re.I):
            return cls(text, "free")  # a name being defined
        aliases = re.findall(r"\bAS\s+(\w+)", text, re.I) + re.findall(r"\bWITH\s+(?:RECURSIVE\s+)?(\w+)", text, re.I)
        aliases += re.findall(r",\s*(\w+)\s+AS\s*\(", text, re.I)
        table_of = {a: t for t, a in re.findall(r"(\w+)\s+AS\s+(\w+)", text, re.I)}
        qualified = _QUALIFIED_END.search(text)
        if qualified and table_of.get(qualified.group(1)) in tables:
            return cls(text, "words", qualified.group(2), frozenset(aliases), table_of[qualified.group(1)])
        return cls(text, "words", re.search(r"\w*$", text).group(0), frozenset(aliases))

    @functools.cached_property
    def depth(self) -> int:
        """Parentheses open in the text so far (read once per step, not once per token)."""
        return _paren_depth(self.text)

    @functools.cached_property
    def ends_in_word(self) -> bool:
        return re.search(r"[\w.]$", self.text) is not None

    def allows(self, context: SqlContext, piece: str, argmax_is_number: bool) -> bool:
        """Whether the token text `piece` may come next."""
        if self.mode == "free":
            return True
        if self.mode == "string":
            return context.string_ok(self.so_far, piece, self.pattern) and (
                "'" not in piece or self.depth + _paren_change(piece.partition("'")[2]) >= 0)
        if self.mode == "number":
            return self._number_ok(context, self.so_far, piece, self.text)
        head, quote, rest = piece.partition("'")
        if self.column_of is not None:
            return not quote and context.column_ok(self.column_of, self.so_far, head)
        at_boundary = not self.ends_in_word or head.startswith(" ")
        stripped = head.lstrip(" ")
        if at_boundary and stripped[:1].isdigit():
            return not quote and self._number_ok(context, "", stripped, self.text + head[:len(head) - len(stripped)])
        if at_boundary and argmax_is_number:
            return False  # the model meant a number: keep it a number
        if not context.word_ok(self.so_far, head, self.aliases):
            return False
        if self.depth + _paren_change(head) < 0:
            return False  # a `)` closes only an open `(`
        pattern = bool(re.search(r"\bLIKE\s*$", self.text + head, re.I))
        return not (quote and rest) or context.string_ok("", rest, pattern)

    def _number_ok(self, context: SqlContext, so_far: str, piece: str, before: str) -> bool:
        """A piece that goes on with the number `so_far` (written after `before`): the number is the question's,
        and what follows it in the piece is known words, closes no parenthesis left unopened, and does not
        make BETWEEN's bounds equal (the question states two)."""
        if not context.number_ok(so_far, piece):
            return False
        digits = re.match(r"\d*(?:\.\d*)?", piece).group(0)
        rest = piece[len(digits):]
        if not rest:  # the number may go on: as BETWEEN's upper bound, to a number other than the lower one
            lower = _between_lower_bound(before + digits)
            return lower is None or context.number_may_become(so_far + digits, other_than=lower)
        return (not _same_between_bounds(before + digits) and self.depth + _paren_change(rest) >= 0
                and (not re.search(r"\w", rest) or context.word_ok("", rest, self.aliases)))

    def first_chars(self, context: SqlContext, argmax_is_number: bool) -> set[str] | None:
        """The characters an allowed piece can start with (None: any), to skip most tokens of a wide look."""
        if self.mode == "string":
            return context.string_next_chars(self.so_far, self.pattern) | {"'"}
        if self.mode == "number":
            return context.number_next_chars(self.so_far)
        return set("0123456789 ") if argmax_is_number else None

    def may_end(self, context: SqlContext) -> bool:
        """Whether the query may end here: not inside a string, nor inside a number the question lacks, nor
        inside parentheses."""
        return (self.mode != "string" and (self.mode != "number" or context.number_ok(self.so_far, " "))
                and self.depth == 0 and not _same_between_bounds(self.text))


def _same_between_bounds(text: str) -> bool:
    m = re.search(r"\bBETWEEN\s+([\d.]+)\s+AND\s+([\d.]+)$", text, re.I)
    return m is not None and m.group(1) == m.group(2)


def _between_lower_bound(text: str) -> str | None:
    """The lower bound when text ends while writing BETWEEN's upper bound ('... BETWEEN 10 AND 2'), else None."""
    m = re.search(r"\bBETWEEN\s+([\d.]+)\s+AND\s+[\d.]*$", text, re.I)
    return m.group(1) if m else None


def _paren_depth(text: str) -> int:
    """Open parentheses left outside quoted strings (negative: one closed too many)."""
    return _paren_change(re.sub(r"'[^']*'?", "", text))


def _paren_change(text: str) -> int:
    return text.count("(") - text.count(")")


class SqlConstraint:
    """A transformers logits processor: of the `top_k` most likely next tokens of each row, it keeps those the
    row's QueryState allows; the others get -inf. When none is allowed inside a literal (or where the model
    means a number) it looks among the top `wide_k`; when none there either, the row is left alone. Rows are
    contexts[row // rows_per_context] (beams or samples of one prompt are consecutive); the query so far is
    the row after `prompt_width`."""

    def __init__(self, tokenizer, contexts: list[SqlContext], prompt_width: int, rows_per_context: int = 1,
                 top_k: int = 64, wide_k: int = 4096, token_texts: dict[int, str] | None = None,
                 end_ids: list[int] | None = None):
        self.tokenizer, self.contexts = tokenizer, contexts
        self.prompt_width, self.rows_per_context = prompt_width, rows_per_context
        self.top_k, self.wide_k = top_k, wide_k
        self._texts = {} if token_texts is None else token_texts  # token id -> text: share it across batches
        specials = set(tokenizer.all_special_ids)
        # end_ids: the tokens generate stops at (T5: EOS); the other special tokens (T5's pad, which generate
        # does not stop at, and its pretraining sentinels) are never kept. None: every special token ends a row.
        self._special = specials if end_ids is None else set(end_ids)
        self._never = specials - self._special
        self._after_end = self._special | {tokenizer.pad_token_id}  # generate pads a finished row

    def _text(self, token_id: int) -> str:
        if token_id not in self._texts:
            self._texts[token_id] = self.tokenizer.decode([token_id])
        return self._texts[token_id]

    def __call__(self, input_ids, scores):
        import torch

        k = min(self.top_k, scores.shape[1])
        top = torch.topk(scores, k, dim=1).indices.tolist()
        done: dict[tuple, tuple[list[int], int]] = {}  # samples of one prompt often agree: check each once
        for row, candidates in enumerate(top):
            context = self.contexts[row // self.rows_per_context]
            written = tuple(input_ids[row, self.prompt_width:].tolist())
            if written and written[-1] in self._after_end:
                continue  # the row has ended: generate pads it from here
            if (id(context), written) not in done:
                done[id(context), written] = self._keep(scores, row, candidates, context, written)
            keep, considered = done[id(context), written]
            if keep and len(keep) < considered:
                kept = scores[row, keep].clone()
                scores[row, :] = float("-inf")
                scores[row, keep] = kept
        return scores

    def _keep(self, scores, row: int, candidates: list[int], context: SqlContext, written: tuple):
        """The tokens row may take next, and how many of its most likely ones were considered."""
        import torch

        k = len(candidates)
        text = self.tokenizer.decode(written, skip_special_tokens=True)
        state = QueryState.read(text, context.tables)
        argmax_is_number = self._text(candidates[0]).lstrip(" ")[:1].isdigit()
        keep = self._allowed(candidates, state, context, argmax_is_number)
        if not keep and (state.mode in ("string", "number") or argmax_is_number):
            # In a literal the model's first choices are often values it remembers: look further down.
            wide = torch.topk(scores[row], min(self.wide_k, scores.shape[1])).indices.tolist()
            first = state.first_chars(context, argmax_is_number)  # a cheap filter before the full check
            further = [t for t in wide[k:] if first is None or self._text(t)[:1] in first]
            candidates, keep = wide, self._allowed(further, state, context, argmax_is_number)
        return keep, len(candidates)

    def _allowed(self, candidates: list[int], state: QueryState, context: SqlContext, argmax_is_number: bool):
        return [t for t in candidates if t not in self._never and (
            state.may_end(context) if t in self._special else state.allows(context, self._text(t), argmax_is_number))]


