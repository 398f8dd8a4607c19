"""The hand-rule constraint for an agent's turns: a tool call is written freely, a final reply under the rules.

A single-turn answer of the tiny model is decoded under the hand rules (constrained.py); an agent's final
reply is the same kind of text (the query alone), so it gets the same rules, or the agent would answer worse
than the model does single-turn for want of them. A turn that opens a tool call (`<tool_call>` JSON, as the
chat template writes it) is left alone: its JSON is not SQL. At the turn's first token the rules' choices and
the tokens that open a tool call both stay, so the model still picks between answering and calling a tool.
"""

from __future__ import annotations

TOOL_CALL_OPENER = "<tool_call>"


def opens_tool_call(text: str) -> bool:
    """Whether a turn written so far is (the start of) a tool call."""
    return bool(text) and (TOOL_CALL_OPENER.startswith(text) or text.startswith(TOOL_CALL_OPENER))


def tool_call_opener_ids(tokenizer) -> list[int]:
    """The tokens a tool call can start with (its opener, or a piece of it)."""
    texts = tokenizer.batch_decode([[t] for t in range(len(tokenizer))])
    return [t for t, text in enumerate(texts) if opens_tool_call(text)]


class AgentReplyConstraint:
    """A transformers logits processor over a batch of agent turns (one row per conversation, greedy): rows
    that open a tool call keep their scores; the others go through the hand rules (constrained.SqlConstraint)."""

    def __init__(self, tokenizer, contexts: list, prompt_width: int, opener_ids: list[int],
                 token_texts: dict[int, str]):
        from t2s_pipeline.modeling.constrained import SqlConstraint

        self.tokenizer, self.prompt_width, self.opener_ids = tokenizer, prompt_width, opener_ids
        self.rules = SqlConstraint(tokenizer, contexts, prompt_width, token_texts=token_texts)

    def __call__(self, input_ids, scores):
        free = scores.clone()
        scores = self.rules(input_ids, scores)
        for row in range(input_ids.shape[0]):
            written = input_ids[row, self.prompt_width:].tolist()
            if not written:
                scores[row, self.opener_ids] = free[row, self.opener_ids]  # answering or calling: the model's choice
            elif opens_tool_call(self.tokenizer.decode(written, skip_special_tokens=True)):
                scores[row] = free[row]
        return scores
