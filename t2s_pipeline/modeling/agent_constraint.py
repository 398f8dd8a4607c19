"""The hand-rule constraint for an agent's turns: the queries it writes under the rules, the rest freely.

A single-turn answer of the tiny model is decoded under the hand rules (constrained.py); an agent writes the
same kind of query twice, in its execute_sql call and as its final reply, so both get the same rules, or the
agent would answer worse than the model does single-turn for want of them. The rest of a tool call (its
`<tool_call>` JSON, as the chat template writes it) is free, and at a turn's first token the rules' choices and
the tokens that open a tool call both stay, so the model still picks between answering and calling a tool.
Inside the call, the query starts after EXECUTE_SQL_OPENER and ends at the JSON string's closing quote; where
the tokenizer merges the opener's last quote with the query's first characters, that call is left free.
"""

from __future__ import annotations

TOOL_CALL_OPENER = "<tool_call>"
EXECUTE_SQL_OPENER = TOOL_CALL_OPENER + '\n{"name": "execute_sql", "arguments": {"sql": "'


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
        from t2s_pipeline.modeling.constrained import SqlConstraint

        free = scores.clone()
        scores = self.rules(input_ids, scores)
        for row in range(input_ids.shape[0]):
            written = input_ids[row, self.prompt_width:].tolist()
            if not written:
                scores[row, self.opener_ids] = free[row, self.opener_ids]  # answering or calling: the model's choice
                continue
            text = self.tokenizer.decode(written, skip_special_tokens=True)
            if not opens_tool_call(text):
                continue  # a final reply: the rules' scores stand
            scores[row] = free[row]
            start = self._query_start(written, text)
            if start is not None:  # inside execute_sql's query: the rules, from the query's first token on
                rules = SqlConstraint(self.tokenizer, [self.rules.contexts[row]], self.prompt_width + start,
                                      token_texts=self.rules._texts)
                scores[row] = rules(input_ids[row:row + 1], free[row:row + 1].clone())[0]
        return scores

    def _query_start(self, written: list[int], text: str) -> int | None:
        """How many of the turn's tokens come before the query of an execute_sql call still being written;
        None outside such a query (another tool, the query closed, or no token boundary at its start)."""
        if not text.startswith(EXECUTE_SQL_OPENER) or _closes(text[len(EXECUTE_SQL_OPENER):]):
            return None
        for k in range(1, len(written) + 1):
            head = self.tokenizer.decode(written[:k], skip_special_tokens=True)
            if len(head) >= len(EXECUTE_SQL_OPENER):
                return k if head == EXECUTE_SQL_OPENER else None
        return None


def _closes(json_text: str) -> bool:
    """Whether a JSON string's content so far holds its closing (unescaped) quote."""
    escaped = False
    for char in json_text:
        if char == '"' and not escaped:
            return True
        escaped = char == "\\" and not escaped
    return False
