"""Characters a tokenizer cannot write, and the tokens that let it.

t5-small's SentencePiece vocabulary has no `<`, `{` or `}`: they encode to <unk>, so a T5 trained on
SQL with `<=` learns to write <unk>, which decodes to nothing. Before training, the characters of the
training texts that encode to the unknown token are added as tokens, and for `<` the SQL operators
that start with it, written with the space before them as PICARD did (` <=`, ` <>`, ` <`), so they
decode as written. A tokenizer whose unknown token never appears (byte-level BPE: Qwen, Llama) is
left as it is. What follows an added token gets a word mark on decoding: `'{b}'` comes back as `'{ b} '`
(harmless after an operator, a change inside a string literal).
"""

from __future__ import annotations

from pathlib import Path

# Operators written with the space before them first: the longest match wins where both apply.
OPERATORS = {"<": (" <=", " <>", " <", "<=", "<>"), ">": (" >=", " >", ">="), "!": (" !=", "!=")}


def unencodable_characters(tokenizer, texts) -> list[str]:
    """The characters of `texts` that the tokenizer turns into its unknown token, in order of first use."""
    unk = tokenizer.unk_token_id
    if unk is None:
        return []
    characters = dict.fromkeys(c for text in texts for c in text if not c.isspace())
    ids = tokenizer(list(characters), add_special_tokens=False)["input_ids"]
    return [c for c, row in zip(characters, ids) if unk in row]


def tokens_for(characters: list[str]) -> list[str]:
    """What to add for these characters: the SQL operators that start with one (longest first), then each."""
    return [*(op for c in characters for op in OPERATORS.get(c, ())), *characters]


def add_missing_characters(model_dir: str | Path, texts, log=print) -> dict:
    """Add the tokens the folder's tokenizer needs to write `texts` (tokens_for), growing the embeddings only
    when the added tokens pass the rows the model has (t5-small has 28 spare rows). Rewrites the folder;
    returns {"added_tokens": [...], "unencodable": [...]} (empty when nothing was missing)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    missing = unencodable_characters(tokenizer, texts)
    if not missing:
        return {"added_tokens": [], "unencodable": []}
    added = tokens_for(missing)
    tokenizer.add_tokens(added)
    if still := unencodable_characters(tokenizer, texts):
        raise ValueError(f"{model_dir}: characters {still} still encode to {tokenizer.unk_token} after adding tokens")
    tokenizer.save_pretrained(str(model_dir))
    _grow_embeddings(Path(model_dir), len(tokenizer), log)
    log(f"the tokenizer of {model_dir} wrote {''.join(missing)!r} as {tokenizer.unk_token}: added {added} as tokens")
    return {"added_tokens": added, "unencodable": missing}


def _grow_embeddings(model_dir: Path, rows: int, log) -> None:
    import json

    config = json.loads((model_dir / "config.json").read_text())
    if rows <= config.get("vocab_size", 0):
        return  # the new ids fall into rows the model already has (trained by full fine-tuning)
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    loader = AutoModelForSeq2SeqLM if config.get("is_encoder_decoder") else AutoModelForCausalLM
    model = loader.from_pretrained(str(model_dir), dtype="auto")
    model.resize_token_embeddings(rows, pad_to_multiple_of=64)
    model.save_pretrained(str(model_dir))
    log(f"embeddings of {model_dir} grown to {model.config.vocab_size} rows")
