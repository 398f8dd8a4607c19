"""What turns a conversation into the model's next turn for the agent loop (agent.py): a model loaded in
this process, or any OpenAI-compatible server.

Both read tool calls out of the model's text with the ecosystem's response parsing, not with regular
expressions of our own: transformers' `parse_response` driven by the model family's response template,
which TRL ships for the families it knows (`add_response_schema`: Qwen 2.5 / 3, Llama 3, GLM, gpt-oss,
...). The tiny default model's chat template writes tool calls as Qwen 2.5 does (ChatML with
`<tool_call>{"name", "arguments"}</tool_call>`, training/tiny_model.py), so it gets the Qwen response
template. A server that parses tool calls itself (vLLM with a tool parser, `transformers serve` for a
model whose tokenizer has a response template) answers with `tool_calls`; one that does not answers
with the text, which the client then parses the same way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from t2s_pipeline.modeling.agent import renderable
from t2s_pipeline.modeling.agent_constraint import TOOL_CALL_OPENER
from t2s_pipeline.modeling.tokenize import CHAT_TEMPLATE_KWARGS


def response_template_for(tokenizer) -> dict | None:
    """The response template that splits this tokenizer's replies into content and tool calls: its own, TRL's for
    its family's chat template, or Qwen's for a ChatML template that writes `<tool_call>` JSON; None if unknown."""
    own = getattr(tokenizer, "response_template", None)
    if own:
        return own
    from trl.chat_template_utils import add_response_schema, qwen3_template

    try:
        add_response_schema(tokenizer)
        return tokenizer.response_template
    except (ValueError, AttributeError):
        pass
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else ""
    if "<|im_start|>" in template and TOOL_CALL_OPENER in template:
        return qwen3_template
    return None


def parse_reply(text: str, response_template: dict | None, prompt: str = "", tools: list | None = None,
                plain: str | None = None) -> dict:
    """The assistant turn in `text`: {"content", "tool_calls"?}, or {"content", "error"} for a tool call that
    does not parse. Without a template, or when parsing fails, the content is `plain` (the text without special
    tokens, as TRL's parse_response falls back to and a server answers) or else the text."""
    plain = text if plain is None else plain
    if response_template is None:
        return {"content": plain}
    from transformers.utils.chat_parsing import parse_response

    try:
        parsed = parse_response(text, response_template, prefix=prompt, tools=tools)
    except (ValueError, TypeError) as e:
        if TOOL_CALL_OPENER in text:
            return {"content": plain, "error": f"tool call could not be read: {str(e).splitlines()[0]}"}
        return {"content": plain}
    reply = {"content": parsed.get("content") or ""}
    if parsed.get("tool_calls"):
        reply["tool_calls"] = parsed["tool_calls"]
    return reply


class LocalBackend:
    """A loaded causal LM (modeling/generate.load_model): batched greedy turns with left padding, stopping at
    the template's end-of-turn token, as the single-turn evaluation generates."""

    def __init__(self, model, tokenizer, batch_size: int = 16, max_new_tokens: int = 256,
                 response_template: dict | None = None, rules: bool = False):
        from t2s_pipeline.modeling.generate import is_seq2seq

        if is_seq2seq(model):
            raise ValueError("the agent needs a decoder-only chat model; this one is an encoder-decoder model")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.response_template = response_template or response_template_for(tokenizer)
        # rules: the agent's queries under the hand rules, the rest of a tool call free (agent_constraint.py)
        self.rules, self._token_texts, self._contexts = rules, {}, {}

    def reply(self, conversations: list[list[dict]], tools: list[dict], questions: list | None = None) -> list[dict]:
        """questions: each conversation's AgentQuestion, which the rules take literals and names from."""
        import torch

        from t2s_pipeline.modeling.generate import stop_token_ids

        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        stops = stop_token_ids(tok)
        prompts = [tok.apply_chat_template(renderable(c), tools=tools, tokenize=False, add_generation_prompt=True,
                                           **CHAT_TEMPLATE_KWARGS) for c in conversations]  # as in training
        replies = []
        for i in range(0, len(prompts), self.batch_size):
            chunk = prompts[i:i + self.batch_size]
            batch = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
            options = dict(max_new_tokens=self.max_new_tokens, do_sample=False, eos_token_id=stops,
                           pad_token_id=tok.pad_token_id, use_cache=True,
                           repetition_penalty=1.0)  # greedy, whatever the hub's generation_config asks
            if not tools:  # a check turn: its query is run by the loop, the call the model would go on to write is not
                options.update(stop_strings=[TOOL_CALL_OPENER], tokenizer=tok)
            if self.rules and questions:
                options["logits_processor"] = self._rules_processor(questions[i:i + self.batch_size],
                                                                    batch["input_ids"].shape[1])
            with torch.no_grad():
                generated = self.model.generate(**batch, **options)
            for prompt, row in zip(chunk, generated[:, batch["input_ids"].shape[1]:].tolist()):
                end = next((k + 1 for k, t in enumerate(row) if t in stops), len(row))  # through the stop token
                plain = tok.decode(row[:end], skip_special_tokens=True)
                replies.append(parse_reply(tok.decode(row[:end]), self.response_template, prompt, tools, plain))
        return replies

    def _rules_processor(self, questions: list, prompt_width: int):
        from transformers import LogitsProcessorList

        from t2s_pipeline.modeling.agent_constraint import AgentReplyConstraint, tool_call_opener_ids
        from t2s_pipeline.modeling.sql_context import sql_contexts

        texts = [q.question + (f"\n\nEvidence: {q.evidence}" if q.evidence else "") for q in questions]
        new = [(t, q.db_path) for t, q in zip(texts, questions) if (t, q.db_path) not in self._contexts]
        self._contexts.update(zip(new, sql_contexts([t for t, _ in new], [p for _, p in new])))  # once a question
        contexts = [self._contexts[t, q.db_path] for t, q in zip(texts, questions)]
        return LogitsProcessorList([AgentReplyConstraint(self.tokenizer, contexts, prompt_width,
                                                         tool_call_opener_ids(self.tokenizer), self._token_texts)])


class OpenAIBackend:
    """Any OpenAI-compatible chat completions endpoint (transformers serve, vLLM), greedy (temperature 0).

    Tool calls the server parsed come as `tool_calls`; a reply of text only is parsed here with
    response_template (when given), so a server without a tool parser for the model works too."""

    def __init__(self, base_url: str, model: str, max_new_tokens: int = 256, response_template: dict | None = None,
                 api_key: str = "not-needed", batch_size: int = 1, timeout_s: float = 300.0):
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)
        self.model, self.max_new_tokens, self.response_template = model, max_new_tokens, response_template
        self.batch_size = batch_size  # conversations sent at once (threads)
        self.parsed_by_server = self.parsed_here = 0

    def reply(self, conversations: list[list[dict]], tools: list[dict], questions: list | None = None) -> list[dict]:
        """questions: unused (a server decodes freely)."""
        if self.batch_size <= 1:
            return [self._one(c, tools) for c in conversations]
        with ThreadPoolExecutor(self.batch_size) as pool:
            return list(pool.map(lambda c: self._one(c, tools), conversations))

    def _one(self, conversation: list[dict], tools: list[dict]) -> dict:
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=renderable(conversation), temperature=0.0, max_tokens=self.max_new_tokens,
                **({"tools": tools} if tools else {}))
        except openai.OpenAIError as e:
            return {"error": f"{type(e).__name__}: {e}"}
        message = response.choices[0].message
        if message.tool_calls:
            self.parsed_by_server += 1
            return {"content": message.content or "", "tool_calls": [
                {"type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
                for c in message.tool_calls]}
        text = message.content or ""
        if self.response_template is not None and TOOL_CALL_OPENER in text:
            self.parsed_here += 1
        return parse_reply(text, self.response_template, tools=tools)
