"""The one constraint switch (modeling/constraint.py): contexts and processor by name."""

from __future__ import annotations


import pytest
import torch

from t2s_pipeline.modeling.constrained import SqlConstraint
from t2s_pipeline.modeling.sql_context import SqlContext
from t2s_pipeline.modeling.constraint import constraint_contexts, constraint_processor
from t2s_pipeline.modeling.grammar_decoding import GrammarConstraint, GrammarContext


def test_each_name_gives_its_contexts(singer_db):
    question = ["Singers from France?"]
    assert constraint_contexts("none", question, [singer_db]) is None
    [rules] = constraint_contexts("rules", question, [singer_db])
    [grammar] = constraint_contexts("grammar", question, [singer_db])
    [(both_grammar, both_rules)] = constraint_contexts("grammar+rules", question, [singer_db])
    assert isinstance(rules, SqlContext) and isinstance(grammar, GrammarContext)
    assert both_grammar == grammar and both_rules.question == rules.question
    with pytest.raises(ValueError, match="constraint must be one of grammar, rules"):
        constraint_contexts("strict", question, [singer_db])


def test_the_processor_follows_the_contexts_and_stacks_both_grammar_first(singer_db, tiny_base_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base_dir)
    stops = [tokenizer.eos_token_id]
    make = lambda name: constraint_processor(tokenizer, constraint_contexts(name, ["Who?"], [singer_db]), 0, 1, stops, {})
    assert isinstance(make("rules"), SqlConstraint) and isinstance(make("grammar"), GrammarConstraint)
    both = make("grammar+rules")
    assert [type(p) for p in both.processors] == [GrammarConstraint, SqlConstraint]
    scores = torch.zeros(1, len(tokenizer))
    assert torch.isinf(both(torch.tensor([[]], dtype=torch.long), scores)).any()


def test_a_stacked_processor_that_allows_nothing_leaves_the_earlier_ones_mask():
    from t2s_pipeline.modeling.constraint import StackedConstraint

    def keep(ids):
        def processor(input_ids, scores):
            out = torch.full_like(scores, float("-inf"))
            out[:, ids] = scores[:, ids]
            return out
        return processor

    scores = torch.arange(6, dtype=torch.float).repeat(2, 1)
    agree = StackedConstraint([keep([1, 2, 3]), keep([2, 5])])(None, scores.clone())
    assert torch.isfinite(agree[0]).nonzero().flatten().tolist() == [2]  # both: their intersection
    disagree = StackedConstraint([keep([1, 2]), keep([4, 5])])(None, scores.clone())
    assert torch.isfinite(disagree[0]).nonzero().flatten().tolist() == [1, 2]  # none in common: the first's


def test_generate_runs_under_each_constraint(singer_db, tiny_base_dir):
    """Through generate_sql as eval_report calls it: a stacked pair is a processor generate accepts."""
    from t2s_pipeline.modeling.generate import generate_sql, load_model

    model, tokenizer = load_model(str(tiny_base_dir))
    conversation = [[{"role": "user", "content": "How many singers?"}]]
    for name in ("grammar", "rules", "grammar+rules"):
        [sql] = generate_sql(model, tokenizer, conversation, max_new_tokens=6,
                             contexts=constraint_contexts(name, ["How many singers?"], [singer_db]))
        assert isinstance(sql, str)
