"""`t2s serve`: the folder the server loads and the command, bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

from t2s_pipeline.cli import main


def test_dry_run_prepares_the_folder_and_prints_a_loopback_command(tiny_base_dir, tmp_path, capsys):
    folder = tmp_path / "serve"
    assert main(["serve", "--model", str(tiny_base_dir), "--folder", str(folder), "--port", "8123", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"OpenAI base URL: http://127.0.0.1:8123/v1 (model name: {folder})" in printed
    command = printed.split("command: ", 1)[1]
    assert "transformers.cli.transformers serve" in command and "--host 127.0.0.1 --port 8123" in command
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_symlink()


def test_an_adapter_is_merged_into_a_new_folder(tiny_base_dir, tmp_path, capsys):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base_dir),
                           LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(adapter)
    folder = tmp_path / "serve"
    assert main(["serve", "--model", str(tiny_base_dir), "--adapter", str(adapter), "--folder", str(folder),
                 "--host", "0.0.0.0", "--dry-run"]) == 0
    assert "--host 0.0.0.0" in capsys.readouterr().out
    assert (folder / "model.safetensors").is_file() and not (folder / "model.safetensors").is_symlink()
    assert not (folder / "adapter_config.json").exists()


def test_a_missing_folder_is_refused(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nope"), "--dry-run"]) == 2
    assert "--model folder not found" in capsys.readouterr().err
