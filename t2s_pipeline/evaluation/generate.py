"""Batched greedy SQL generation: left padding, stopping at the end-of-turn token."""

from __future__ import annotations

import re

_SQL_BLOCK = re.compile(r"```(?:sql|sqlite)?\s*(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)


def extract_sql(text: str) -> str:
    """The SQL in a reply: the content of a markdown code block when there is one, else the text."""
    match = _SQL_BLOCK.search(text)
    sql = match.group(1) if match else text
    return sql.strip().rstrip(";").strip()


def load_model(model_dir: str, adapter_dir: str | None = None):
    """A causal LM and its tokenizer, with a LoRA adapter applied when one is given."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter_dir or model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter_dir:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    return model, tokenizer


def generate_sql(model, tokenizer, conversations: list[list[dict]], batch_size: int = 16, max_new_tokens: int = 128) -> list[str]:
    """One SQL string per conversation (system + user turns), greedy decoding."""
    import torch

    tokenizer.padding_side = "left"
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    outputs: list[str] = []
    for i in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[i : i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            generated = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = generated[:, batch["input_ids"].shape[1]:]
        outputs.extend(extract_sql(t) for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return outputs


def masked_loss(model, tokenizer, samples: list[dict], batch_size: int = 16) -> float | None:
    """Mean cross-entropy over assistant tokens only (prompt masked), the figure perplexity is taken from."""
    import torch

    from t2s_pipeline.training.tokenize import IGNORE_INDEX, tokenize_sample

    rows = [tokenize_sample(tokenizer, s["messages"], s.get("tools")) for s in samples]
    total_loss, total_tokens = 0.0, 0
    for i in range(0, len(rows), batch_size):
        chunk = rows[i : i + batch_size]
        width = max(len(r["input_ids"]) for r in chunk)
        ids = torch.tensor([r["input_ids"] + [tokenizer.pad_token_id] * (width - len(r["input_ids"])) for r in chunk])
        mask = torch.tensor([r["attention_mask"] + [0] * (width - len(r["input_ids"])) for r in chunk])
        labels = torch.tensor([r["labels"] + [IGNORE_INDEX] * (width - len(r["input_ids"])) for r in chunk])
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
        total_loss += loss.item()
        total_tokens += int((target != IGNORE_INDEX).sum())
    return total_loss / total_tokens if total_tokens else None
