"""Serving a stored model over the OpenAI API with an existing server: `transformers serve` (CPU, tests),
vLLM on a GPU (docs/agent.md).

prepare_model_folder makes the folder the server loads: the merged model (a base and its LoRA adapter
merged here; a merged or fully fine-tuned folder linked weight file by weight file, never written to),
with what the server reads from the folder set so that it answers as in-process generation does:
- generation_config.json's eos_token_id: every end-of-turn token in-process generation stops at;
- with server_parses_tool_calls, the tokenizer's `response_template` (TRL's for the model's family,
  agent_backends.response_template_for): `transformers serve` then parses tool calls into the reply's
  `tool_calls`. Off by default: in transformers 5.23 a tool call the server cannot parse (a weak model's
  malformed JSON) fails the request with a 500 and shuts the server down (seen with the tiny model).
  Without it the reply is the model's text and the agent parses it on the client with the same
  template (for a Qwen config the server parses anyway, from its model_type).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                    "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")


def prepare_model_folder(model_dir: str | Path, out_dir: str | Path, adapter_dir: str | Path | None = None,
                         server_parses_tool_calls: bool = False) -> Path:
    """The folder to serve (see the module docstring); out_dir is created (it must not hold files)."""
    from transformers import AutoTokenizer, GenerationConfig

    from t2s_pipeline.modeling.generate import load_model, stop_token_ids
    from t2s_pipeline.modeling.model_folder import is_full_model
    from t2s_pipeline.modeling.agent_backends import response_template_for

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValueError(f"the serving folder must be empty: {out}")
    if adapter_dir and not is_full_model(adapter_dir):
        model, tokenizer = load_model(str(model_dir), str(adapter_dir))
        model = model.merge_and_unload()
        model.save_pretrained(out)
        source = out
    else:
        source = Path(adapter_dir or model_dir)
        if not (source / "config.json").is_file():
            raise FileNotFoundError(f"no model to serve: {source} has no config.json")
        for path in source.iterdir():
            if path.name in _TOKENIZER_FILES or path.name == "generation_config.json" or not path.is_file():
                continue
            if path.name.endswith((".safetensors", ".bin", ".index.json")):
                os.symlink(path.resolve(), out / path.name)  # weights: linked, the stored model is never written
            else:
                shutil.copy2(path, out / path.name)
        tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.response_template = response_template_for(tokenizer) if server_parses_tool_calls else None
    tokenizer.save_pretrained(out)
    try:
        generation = GenerationConfig.from_pretrained(source)
    except OSError:
        generation = GenerationConfig()
    generation.eos_token_id = stop_token_ids(tokenizer)
    generation.pad_token_id = tokenizer.pad_token_id
    generation.save_pretrained(out)
    return out


def serve_command(folder: str | Path, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu",
                  dtype: str | None = None) -> list[str]:
    """`transformers serve` pinned to the folder. On the CPU in float32, as in-process generation loads it."""
    dtype = dtype or ("float32" if device == "cpu" else "auto")
    return [sys.executable, "-m", "transformers.cli.transformers", "serve", str(folder), "--host", host,
            "--port", str(port), "--device", device, "--dtype", dtype, "--log-level", "warning"]


def serve_env() -> dict:
    """The server's environment: offline, no update check (nothing is downloaded at run time)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "TRANSFORMERS_OFFLINE": "1"}


def wait_until_up(base_url: str, process: subprocess.Popen | None = None, timeout_s: float = 120.0) -> float:
    """Seconds until the server's /health answers (its /v1/models scans the Hub cache, and fails without one);
    raises RuntimeError if the server exits or never answers."""
    import urllib.error
    import urllib.request

    health_url = f"{base_url.removesuffix('/').removesuffix('/v1')}/health"
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before answering")
        try:
            with urllib.request.urlopen(health_url, timeout=2):
                return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"no answer from {base_url} within {timeout_s:g} s")


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
