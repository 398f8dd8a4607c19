"""The hand-rule constraint for an agent's turns: the queries it writes under the rules, the rest freely.

A single-turn answer of the tiny model is decoded under the hand rules (constrained.py); an agent writes the
same kind of query in its turns' text (a final reply, or the query a check conversation writes before running
it) and in its execute_sql calls, so all of them get the same rules, or the agent would answer worse than the
model does single-turn for want of them. A turn's text is a query; wherever that query may end (and at the
turn's first token) the tokens that open a tool call stay too, so the model still chooses between answering
and calling a tool. After the opener (`<tool_call>` JSON, as the chat template writes it) the call is free,
but for the query of an execute_sql call: from the token after EXECUTE_SQL_OPENER to the JSON string's
closing quote (where the tokenizer merges the opener's last quote with the query, the call stays free).
"""

from __future__ import annotations

import weakref

TOOL_CALL_OPENER = "<tool_call>"  # how ChatML templates (Qwen, the tiny model) open a tool call
EXECUTE_SQL_OPENER = TOOL_CALL_OPENER + '\n{"name": "execute_sql", "arguments": {"sql": "'


def opens_tool_call(text: str) -> bool:
    """Whether a turn written so far is (the start of) a tool call."""
    return bool(text) and (TOOL_CALL_OPENER.startswith(text) or text.startswith(TOOL_CALL_OPENER))


# Per tokenizer object, dropped with it (an id() key could be reused by the next tokenizer loaded).
_OPENER_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tool_call_opener_ids(tokenizer) -> dict[int, list[int]]:
    """For each k < len(TOOL_CALL_OPENER), the tokens that go on from its first k characters towards a tool call
    (worked out once per tokenizer: a hub vocabulary takes a second)."""
    if tokenizer not in _OPENER_IDS:
        texts = tokenizer.batch_decode([[t] for t in range(len(tokenizer))])
        _OPENER_IDS[tokenizer] = {k: [t for t, text in enumerate(texts) if opens_tool_call(TOOL_CALL_OPENER[:k] + text)]
                                  for k in range(len(TOOL_CALL_OPENER))}
    return _OPENER_IDS[tokenizer]


class AgentReplyConstraint:
    """A transformers logits processor over a batch of agent turns (one row per conversation, greedy): each row's
    text goes through the hand rules (constrained.SqlConstraint), a tool call may open where its query may end,
    and an open call is free but for the query of an execute_sql call."""

    def __init__(self, tokenizer, contexts: list, prompt_width: int, opener_ids: dict[int, list[int]],
                 token_texts: dict[int, str]):
        from t2s_pipeline.modeling.constrained import SqlConstraint

        self.tokenizer, self.contexts, self.prompt_width = tokenizer, contexts, prompt_width
        self.opener_ids, self.token_texts = opener_ids, token_texts
        self.rules = SqlConstraint(tokenizer, contexts, prompt_width, token_texts=token_texts)

    def __call__(self, input_ids, scores):
        from t2s_pipeline.modeling.constrained import QueryState

        free = scores.clone()
        scores = self.rules(input_ids, scores)
        for row in range(input_ids.shape[0]):
            written = input_ids[row, self.prompt_width:].tolist()
            text = self.tokenizer.decode(written, skip_special_tokens=True)
            at = text.find(TOOL_CALL_OPENER)
            if at >= 0:  # in a tool call
                scores[row] = free[row]
                start = self._query_start(written, text, at)
                if start is not None:
                    scores[row] = self._rules_from(start, row, input_ids, free)
                continue
            k = next((k for k in range(len(TOOL_CALL_OPENER) - 1, 0, -1) if text.endswith(TOOL_CALL_OPENER[:k])), 0)
            context = self.contexts[row]
            if k or QueryState.read(text, context.tables).may_end(context):
                ids = self.opener_ids[k]  # the model's choice: go on with the query, or open a tool call
                scores[row, ids] = free[row, ids]
        return scores

    def _rules_from(self, start: int, row: int, input_ids, free):
        """The row's scores under the rules for a query that starts `start` tokens into the turn."""
        from t2s_pipeline.modeling.constrained import SqlConstraint

        rules = SqlConstraint(self.tokenizer, [self.contexts[row]], self.prompt_width + start,
                              token_texts=self.token_texts)
        return rules(input_ids[row:row + 1], free[row:row + 1].clone())[0]

    def _query_start(self, written: list[int], text: str, at: int) -> int | None:
        """How many of the turn's tokens come before the query of an execute_sql call still being written;
        None outside such a query (another tool, the query closed, or no token boundary at its start)."""
        opener = text[:at] + EXECUTE_SQL_OPENER
        if not text.startswith(opener) or _closes(text[len(opener):]):
            return None
        for k in range(1, len(written) + 1):
            head = self.tokenizer.decode(written[:k], skip_special_tokens=True)
            if len(head) >= len(opener):
                return k if head == opener else None
        return None


def _closes(json_text: str) -> bool:
    """Whether a JSON string's content so far holds its closing (unescaped) quote."""
    escaped = False
    for char in json_text:
        if char == '"' and not escaped:
            return True
        escaped = char == "\\" and not escaped
    return False
