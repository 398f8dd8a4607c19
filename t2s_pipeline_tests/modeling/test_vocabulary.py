"""T5's missing characters: found in the train texts, added as tokens (the SQL operators first), written back."""

from __future__ import annotations

import shutil

from t2s_pipeline.modeling.vocabulary import add_missing_characters, tokens_for, unencodable_characters

SQL = "SELECT name FROM singer WHERE age <= 30 AND age <> 25 AND country < 'F' AND note = '{x}'"


def test_missing_characters_become_tokens_and_queries_round_trip(stand_in, tmp_path):
    from transformers import AutoTokenizer

    folder = tmp_path / "t5"
    shutil.copytree(stand_in("t5-small"), folder)
    before = AutoTokenizer.from_pretrained(folder)
    assert unencodable_characters(before, [SQL]) == ["<", "{", "}"]
    assert "<=" not in before.decode(before(SQL, add_special_tokens=False)["input_ids"])
    added = add_missing_characters(folder, [SQL], log=lambda m: None)
    assert added == {"added_tokens": tokens_for(["<", "{", "}"]), "unencodable": ["<", "{", "}"]}
    after = AutoTokenizer.from_pretrained(folder)
    assert unencodable_characters(after, [SQL]) == []
    decoded = after.decode(after(SQL, add_special_tokens=False)["input_ids"], skip_special_tokens=True)
    # Operators come back as written; what follows an added token gets T5's word mark: '{x}' reads '{ x} '.
    assert decoded == "SELECT name FROM singer WHERE age <= 30 AND age <> 25 AND country < 'F' AND note = '{ x} '"


def test_a_byte_level_tokenizer_is_left_as_it_is(stand_in, tmp_path):
    folder = tmp_path / "qwen"
    shutil.copytree(stand_in("qwen2.5-coder-1.5b"), folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert add_missing_characters(folder, [SQL], log=lambda m: None) == {"added_tokens": [], "unencodable": []}
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_embeddings_grow_only_past_the_rows_the_model_has(stand_in, tmp_path):
    import json

    folder = tmp_path / "t5"
    shutil.copytree(stand_in("t5-small"), folder)
    rows = json.loads((folder / "config.json").read_text())["vocab_size"]
    many = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 120))  # 120 characters the vocabulary lacks
    add_missing_characters(folder, [SQL + many], log=lambda m: None)
    grown = json.loads((folder / "config.json").read_text())["vocab_size"]
    from transformers import AutoTokenizer

    assert grown >= len(AutoTokenizer.from_pretrained(folder)) > rows and grown % 64 == 0
