"""Which constraint decodes the SQL: the database's grammar, the hand rules, or none. One switch, one name.

- `grammar`: the SQLite SELECT grammar of the question's database with its linked values, through llguidance
  (sql_grammar.py, grammar_decoding.py): names from the database, balanced parentheses, whole queries.
- `rules`: the hand rules (constrained.py): literals from the question, names from the database, the top
  64 tokens checked in Python.
- `grammar+rules`: both, the hand rules filtering what the grammar allows.
- `none`: free decoding.
- `default` (or empty): the model folder's default (decoding.py: `t2s_decoding.json`, written by the tiny
  bases; a hub model decodes freely).
Used by eval_report, `t2s ask`, self-consistency, sampled EX and GRPO sampling alike.
"""

from __future__ import annotations

CONSTRAINTS = ("grammar", "rules", "grammar+rules", "none")
DEFAULT = "default"
CHOICES = (DEFAULT,) + CONSTRAINTS  # what a config or a command line may ask for


def check_constraint(constraint: str, allow_default: bool = False) -> str:
    """The constraint, or a clear error naming the allowed ones. allow_default: `default` (and empty) pass too."""
    allowed = CHOICES if allow_default else CONSTRAINTS
    if allow_default and constraint in (None, ""):
        return DEFAULT
    if constraint not in allowed:
        raise ValueError(f"constraint must be one of {', '.join(allowed)}; got {constraint!r}")
    return constraint


def constraint_contexts(constraint: str, questions: list[str], db_paths: list, pipe: bool = False) -> list | None:
    """One context per question for the constraint (None: decode freely). questions: the text literals are
    linked from (the question with its evidence). pipe: the answers are pipe SQL (the grammar's pipe form; the
    hand rules read both)."""
    if check_constraint(constraint) == "none":
        return None
    from t2s_pipeline.modeling.sql_context import sql_contexts
    from t2s_pipeline.modeling.grammar_decoding import grammar_contexts

    if constraint == "rules":
        return sql_contexts(questions, db_paths)
    if constraint == "grammar":
        return grammar_contexts(questions, db_paths, pipe=pipe)
    return list(zip(grammar_contexts(questions, db_paths, pipe=pipe), sql_contexts(questions, db_paths)))


def constraint_processor(tokenizer, contexts: list, prompt_width: int, rows_per_context: int, stop_ids: list[int],
                         shared: dict):
    """The logits processor for contexts (grammar or rules, read from their type; pairs: both, the grammar first).
    shared: a dict kept across batches or steps (the rules' decoded tokens)."""
    from t2s_pipeline.modeling.grammar_decoding import GrammarConstraint, GrammarContext

    if contexts and isinstance(contexts[0], tuple):
        return StackedConstraint([constraint_processor(tokenizer, [c[k] for c in contexts], prompt_width,
                                                       rows_per_context, stop_ids, shared) for k in (0, 1)])
    if contexts and isinstance(contexts[0], GrammarContext):
        return GrammarConstraint(tokenizer, contexts, prompt_width, rows_per_context, stop_ids=stop_ids)
    from t2s_pipeline.modeling.constrained import SqlConstraint

    return SqlConstraint(tokenizer, contexts, prompt_width, rows_per_context,
                         token_texts=shared.setdefault("token_texts", {}))


class StackedConstraint:
    """Processors applied in turn (a LogitsProcessorList inside another one is refused by transformers). A row
    that a later processor leaves with nothing allowed keeps what the earlier ones allowed: the hand rules and the
    grammar can disagree (a value the rules require that the grammar's scoping refuses), and a row with every
    score -inf would write any token, out of both."""

    def __init__(self, processors: list):
        self.processors = processors

    def __call__(self, input_ids, scores):
        import torch

        for processor in self.processors:
            before = scores.clone()
            scores = processor(input_ids, scores)
            emptied = ~torch.isfinite(scores).any(dim=1) & torch.isfinite(before).any(dim=1)
            scores[emptied] = before[emptied]
        return scores
