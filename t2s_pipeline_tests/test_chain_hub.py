"""Every hub preset family through the chain on its hub-shaped stand-in (modeling/stand_ins.py), scaled down by
the one documented override (configs/run/scaled_down.yaml): base_model takes the stand-in folder as it takes a
download, then tokenized_splits, lora_adapter (4-bit NF4 on bitsandbytes' CPU backend where the preset says so,
activation checkpointing, the preset's LoRA targets), rl_adapter (GRPO with HF generate), eval_report, the
merge into the full-precision base, and `t2s ask` on the merged folder.

The data half (raw_benchmarks ... trajectories) is materialized once and copied into each family's storage.
The stand-ins' weights are random: these tests say that the chain runs and what it writes, not what it learns.
"""

from __future__ import annotations

import json
import shutil
import time

import dagster as dg
import pytest

from t2s_pipeline.assets.run_configs import preset_run_config
from t2s_pipeline.definitions import defs
from t2s_pipeline.resources.storage import current_version_path

MODEL_HALF = ["base_model", "tokenized_splits", "lora_adapter", "rl_adapter", "eval_report", "merged_model"]
CHAINS = {  # test id: (SFT preset, RL preset)
    "qwen2.5-lora": ("qwen2.5-coder-1.5b-lora", None),
    "qwen2.5-qlora": ("qwen2.5-coder-7b-qlora", None),
    "qwen3-qlora": ("qwen3-8b-qlora", None),
    "qwen2.5-grpo": ("qwen2.5-coder-7b-qlora", "rl-qwen2.5-coder-7b"),
    "t5": ("t5-small", None),
}


@pytest.fixture(scope="module")
def data_storage(tmp_path_factory):
    storage = tmp_path_factory.mktemp("hub_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("T2S_STORAGE", str(storage))
        result = defs.resolve_job_def("data").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return storage


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory, data_storage):
    """Build each family's stand-in once, its tokenizer trained on the chain's own train texts."""
    from t2s_pipeline.modeling.stand_ins import build_stand_in, family_of
    from t2s_pipeline.training.base_model import pretraining_documents

    texts = pretraining_documents(current_version_path(data_storage, "trajectories"))
    root, built = tmp_path_factory.mktemp("stand_ins"), {}

    def get(preset: str):
        family = family_of(preset)
        if family not in built:
            build_stand_in(family, root / family, texts=texts)
            built[family] = root / family
        return built[family]

    return get


def run_chain(name, data_storage, stand_ins, tmp_path):
    preset, rl_preset = CHAINS[name]
    storage = tmp_path / "storage"
    shutil.copytree(data_storage, storage)
    run_config = preset_run_config(preset, rl_preset, model=str(stand_ins(preset)), scaled_down=True)
    began = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("T2S_STORAGE", str(storage))
        result = defs.resolve_job_def("full_chain").execute_in_process(
            run_config=run_config, instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey(k) for k in MODEL_HALF], raise_on_error=False)
    seconds = time.monotonic() - began
    print(f"\n{name}: model half of the chain in {seconds:.0f} s")
    assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
    return result, storage


def merged_folder_answers(storage, tmp_path):
    """`t2s ask` on the merged folder: it loads without PEFT and writes some reply for a question."""
    from t2s_pipeline.cli.ask import ask

    merged = current_version_path(storage, "merged_model")
    db = next((current_version_path(storage, "raw_benchmarks") / "databases").glob("*.sqlite"))
    local = tmp_path / db.name
    shutil.copy(db, local)
    sql, result = ask(str(merged), str(local), "How many rows are there?", max_new_tokens=12)
    assert isinstance(sql, str) and result.status
    return merged


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHAINS))
def test_hub_preset_chain_on_its_stand_in(name, data_storage, stand_ins, tmp_path):
    result, storage = run_chain(name, data_storage, stand_ins, tmp_path)
    report = json.loads((current_version_path(storage, "eval_report") / "report.json").read_text())
    metrics = json.loads((current_version_path(storage, "lora_adapter") / "metrics.json").read_text())
    preset = CHAINS[name][0]
    assert report["questions"] == 6
    merged = merged_folder_answers(storage, tmp_path)
    config = json.loads((merged / "config.json").read_text())
    base_config = json.loads((current_version_path(storage, "base_model") / "config.json").read_text())
    assert config["architectures"] == base_config["architectures"]
    assert not any("lora" in line for line in (merged / "model.safetensors.index.json").read_text().splitlines()) \
        if (merged / "model.safetensors.index.json").exists() else True
    print(f"{name}: {json.dumps({k: metrics.get(k) for k in ('first_loss', 'final_loss', 'steps')})}")
    assert preset
