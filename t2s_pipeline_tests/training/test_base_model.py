"""prepare_base_model: the tiny default, a local folder copied, and clear errors for anything else."""

from __future__ import annotations

import pytest

from t2s_pipeline.samples.prompts import SYSTEM_PROMPT
from t2s_pipeline.training.base_model import prepare_base_model, pretraining_documents
from t2s_pipeline_tests.training import tiny


def test_pretraining_documents_come_from_the_train_split_only(trajectories_dir):
    docs = pretraining_documents(trajectories_dir)
    train = tiny.split_samples()["train"]
    databases = {s["meta"]["db_id"] for s in train}
    assert docs[0] == SYSTEM_PROMPT
    # the system prompt, each train schema once, then one question/SQL document per train sample
    assert len(docs) == 1 + len(databases) + len(train)
    assert sum(doc.startswith("Database schema:") for doc in docs) == len(databases)
    held_out = [s["meta"]["gold_sql"] for split in ("dev", "test") for s in tiny.split_samples()[split]]
    for sql in held_out:
        assert not any(doc.endswith(f"SQL: {sql}") for doc in docs)
    assert all("<|im_start|>" not in doc for doc in docs[1:])


def test_tiny_source_writes_a_loadable_hf_folder(trajectories_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "base"
    info = prepare_base_model("tiny", trajectories_dir, out, tiny=tiny.tiny_config(), log=lambda m: None)
    assert info["source"] == "tiny"
    assert (out / "config.json").is_file()
    train = tiny.split_samples()["train"]
    assert info["pretrain_documents"] == 1 + len({s["meta"]["db_id"] for s in train}) + len(train)
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.vocab_size == len(tok) == info["vocab_size"]
    assert info["parameters"] == sum(p.numel() for p in model.parameters())


def test_local_folder_is_copied(tiny_base_dir, trajectories_dir, tmp_path):
    out = tmp_path / "copy"
    info = prepare_base_model(str(tiny_base_dir), trajectories_dir, out, log=lambda m: None)
    assert info["source"] == str(tiny_base_dir.resolve())
    source_files = sorted(p.name for p in tiny_base_dir.iterdir())
    assert sorted(p.name for p in out.iterdir()) == source_files
    for name in source_files:
        assert (out / name).read_bytes() == (tiny_base_dir / name).read_bytes()


def test_folder_without_config_json_is_refused_by_name(trajectories_dir, tmp_path):
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="config.json") as err:
        prepare_base_model(str(folder), trajectories_dir, tmp_path / "out", log=lambda m: None)
    assert str(folder) in str(err.value)
    assert not (tmp_path / "out").exists()


def test_bare_name_that_is_not_a_folder_is_a_value_error(trajectories_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="nonexistent"):
        prepare_base_model("nonexistent", trajectories_dir, tmp_path / "out", log=lambda m: None)


def test_literal_swapped_copies_never_write_a_held_out_query(tmp_path):
    from t2s_pipeline.records import write_jsonl

    def oldest(k: int, split: str) -> dict:
        s = tiny.sample(0, split)
        s["messages"][1]["content"] = s["messages"][1]["content"].replace(
            "How many singers are there?", f"Who are the {k} oldest singers?")
        s["messages"][2]["content"] = s["meta"]["gold_sql"] = f"SELECT name FROM singer ORDER BY age DESC LIMIT {k}"
        return s

    write_jsonl(tmp_path / "train.jsonl", [oldest(3, "train"), tiny.sample(6, "train")])  # 6 has 'France'
    write_jsonl(tmp_path / "dev.jsonl", [])
    write_jsonl(tmp_path / "test.jsonl", [oldest(5, "test")])
    docs = pretraining_documents(tmp_path, literal_variants=40, seed=0)
    limits = {doc.rsplit("LIMIT ", 1)[1] for doc in docs if "LIMIT" in doc}
    assert "3" in limits and len(limits) > 3  # the original and swapped copies with other numbers
    assert "5" not in limits  # the held-out query is never written
    assert sum("Who are the" in doc for doc in docs) == len([d for d in docs if "LIMIT" in d])
    assert pretraining_documents(tmp_path) == docs[:1 + 1 + 2]  # no copies by default
