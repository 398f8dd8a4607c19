"""The prompt every sample and every evaluation question uses, and the formats it is written in.

A sample is always stored as chat messages (system, user, assistant). Its `format` says how they
become text for training and generation:
- `chat` (the default, no field): the model's own chat template;
- `alpaca`: the Alpaca instruction format (ALPACA_TEMPLATE below): the system prompt is the
  instruction, the user turn the input, the answer the response, ended by the EOS token.
With `cot`, an answer is the source's chain of thought, then the SQL in a ```sql block.
"""

from __future__ import annotations

SYSTEM_PROMPT = "You write one SQLite query that answers the question. Reply with the SQL only."


def user_prompt(schema_text: str, question: str, evidence: str = "") -> str:
    """Schema first, then the question (and BIRD-style evidence when there is some)."""
    parts = [f"Database schema:\n{schema_text}", f"Question: {question}"]
    if evidence:
        parts.append(f"Evidence: {evidence}")
    return "\n\n".join(parts)


def prompt_messages(schema_text: str, question: str, evidence: str = "") -> list[dict]:
    """System and user turns: what the model sees before it answers."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_prompt(schema_text, question, evidence)},
    ]


FORMATS = ("chat", "alpaca")
# Alpaca's prompt, with generation markers around the response and its EOS token (what is learned).
ALPACA_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{ 'Below is an instruction that describes a task, paired with an input "
    "that provides further context. Write a response that appropriately completes the request.\\n\\n"
    "### Instruction:\\n' + message['content'] + '\\n\\n' }}"
    "{%- elif message['role'] == 'user' %}{{ '### Input:\\n' + message['content'] + '\\n\\n### Response:\\n' }}"
    "{%- elif message['role'] == 'assistant' %}{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{%- endif %}"
    "{%- endfor %}"
)


def sample_template(sample: dict) -> str | None:
    """The template that turns this sample into text: None for the model's chat template."""
    fmt = sample.get("format", "chat")
    if fmt not in FORMATS:
        raise ValueError(f"sample {sample.get('meta', {}).get('id')}: format must be one of {FORMATS}, got {fmt!r}")
    return ALPACA_TEMPLATE if fmt == "alpaca" else None


def cot_answer(cot: str, sql: str) -> str:
    """A chain-of-thought answer: the reasoning, then the query in a ```sql block (what extract_sql reads)."""
    return f"{cot.strip()}\n\n```sql\n{sql}\n```"


def encoder_prompt(messages: list[dict]) -> str:
    """What an encoder-decoder model (T5) reads: the user turns (schema with its columns, question,
    evidence; the query so far for a pipe step), without the system prompt, which is the same for every
    sample and would only take room in the encoder's input."""
    return "\n\n".join(m["content"] for m in messages if m["role"] == "user")
