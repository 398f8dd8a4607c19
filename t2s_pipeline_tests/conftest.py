"""Fixtures shared across the test folders: the tiny chat samples, base model and tokenized splits.

Each is built once per session (t2s_pipeline_tests/training/tiny.py memoises them).
"""

import json
import sqlite3

import pytest

from t2s_pipeline_tests.training import tiny


@pytest.fixture(scope="session")
def trajectories_dir(tmp_path_factory):
    return tiny.trajectories_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory):
    return tiny.tiny_base_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tokenized_dir(tmp_path_factory):
    return tiny.tokenized_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def tokenizer(tiny_base_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base_dir)


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory):
    return tiny.tiny_t5_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def t5_tokenized_dir(tmp_path_factory):
    return tiny.t5_tokenized_dir(tmp_path_factory)


@pytest.fixture(scope="session")
def music_databases(tmp_path_factory):
    return tiny.music_databases(tmp_path_factory)


# --- an eval_report's inputs: a raw_benchmarks folder and a lora_adapter artifact --------------------------

SINGERS = [(1, "Ann", 30, "France"), (2, "Bob", 45, "Germany"), (3, "Cid", 27, "France"), (4, "Dee", 33, "Japan")]


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory):
    """A raw_benchmarks folder with the `music` database the tiny samples ask about."""
    raw = tmp_path_factory.mktemp("raw_benchmarks")
    (raw / "databases").mkdir()
    conn = sqlite3.connect(raw / "databases" / "music.sqlite")
    conn.execute(tiny.SCHEMA.rstrip(";"))
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", SINGERS)
    conn.commit()
    conn.close()
    return raw


@pytest.fixture(scope="session")
def lora_adapter_dir(tmp_path_factory, tiny_base_dir):
    """A lora_adapter artifact: adapter/ (an untrained LoRA on the tiny base), loss_log.jsonl, metrics.json."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("lora_adapter")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(out / "adapter")
    AutoTokenizer.from_pretrained(tiny_base_dir).save_pretrained(out / "adapter")
    log = [{"step": s, "epoch": s / 10, "loss": 3.0 - 0.1 * s, "learning_rate": 1e-3} for s in range(1, 11)]
    log += [{"step": 5, "eval_loss": 2.8}, {"step": 10, "eval_loss": 2.4}, {"step": 10, "train_loss": 2.5}]
    (out / "loss_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    (out / "metrics.json").write_text(json.dumps({"first_loss": 2.9, "final_loss": 2.0}))
    return out


@pytest.fixture(scope="session")
def stand_in(tmp_path_factory):
    """stand_in(family) -> a hub-shaped stand-in folder (modeling/stand_ins.py), each family built once."""
    from t2s_pipeline.modeling.stand_ins import build_stand_in

    root, built = tmp_path_factory.mktemp("stand_ins"), {}

    def get(family: str):
        if family not in built:
            build_stand_in(family, root / family)
            built[family] = root / family
        return built[family]

    return get


@pytest.fixture(scope="session")
def tool_model(tmp_path_factory):
    """(model folder, music database, schema): a tiny model trained on tool-calling conversations."""
    from t2s_pipeline_tests.modeling import tool_model as built

    return built.tool_model(tmp_path_factory)
