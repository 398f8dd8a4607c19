"""A real `transformers serve` process on 127.0.0.1 with a tiny trained model: the agent over HTTP gives the
same conversations and final queries as in-process (greedy)."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess

import pytest

from t2s_pipeline.modeling.agent import AgentQuestion, run_agent
from t2s_pipeline.modeling.agent_backends import LocalBackend, OpenAIBackend, response_template_for
from t2s_pipeline.modeling.serve import free_port, prepare_model_folder, serve_command, serve_env, wait_until_up
from t2s_pipeline_tests.modeling.tool_model import TRAIN_QUESTIONS
from t2s_pipeline_tests.training import tiny


def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@contextlib.contextmanager
def served(folder):
    """A `transformers serve` process on a free port of 127.0.0.1, stopped at the end; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(serve_command(folder, port=port), env={**serve_env(), "OMP_NUM_THREADS": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_until_up(base_url, server, timeout_s=90)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    assert server.returncode is not None


def in_process(model_dir, questions):
    import torch

    from t2s_pipeline.modeling.generate import load_model

    model, tokenizer = load_model(str(model_dir))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model runs faster on one thread than on two busy cores
    try:
        return run_agent(questions, LocalBackend(model, tokenizer, batch_size=len(questions), max_new_tokens=64))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def questions(tool_model):
    _, db, schema = tool_model
    return [AgentQuestion(f"q{i}", q, str(db), schema) for i, (q, _) in enumerate(tiny.QUESTIONS)]


def test_prepared_folder_links_the_weights_and_sets_the_stop_tokens(tool_model, tmp_path):
    from transformers import AutoTokenizer, GenerationConfig

    model_dir, _, _ = tool_model
    before = _hashes(model_dir)
    folder = prepare_model_folder(model_dir, tmp_path / "serve")
    assert (folder / "model.safetensors").is_symlink() and _hashes(model_dir) == before
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.response_template is None  # the client parses the text
    stops = set(GenerationConfig.from_pretrained(folder).eos_token_id)
    assert stops == {tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    parsing = prepare_model_folder(model_dir, tmp_path / "parsing", server_parses_tool_calls=True)
    assert AutoTokenizer.from_pretrained(parsing).response_template["fields"]["tool_calls"]["open"] == "<tool_call>"
    with pytest.raises(ValueError, match="must be empty"):
        prepare_model_folder(model_dir, folder)


def test_the_agent_over_transformers_serve_matches_in_process(tool_model, questions, tmp_path):
    """Held-out questions (some end in a tool call the model writes wrong) and two trained ones; the server
    answers with text, parsed on the client with the family's response template."""
    model_dir, _, _ = tool_model
    asked = questions[TRAIN_QUESTIONS:TRAIN_QUESTIONS + 4] + questions[:2]
    local = in_process(model_dir, asked)
    folder = prepare_model_folder(model_dir, tmp_path / "serve")
    with served(folder) as base_url:
        from transformers import AutoTokenizer

        template = response_template_for(AutoTokenizer.from_pretrained(folder))
        backend = OpenAIBackend(base_url, str(folder), max_new_tokens=64, response_template=template)
        remote = run_agent(asked, backend)
    assert [r.sql for r in remote] == [r.sql for r in local]
    assert [r.messages for r in remote] == [r.messages for r in local]
    assert [(r.status, r.turns, r.tool_calls) for r in remote] == [(r.status, r.turns, r.tool_calls) for r in local]
    assert sum(r.tool_calls for r in remote) >= 8 and backend.parsed_here > 0
    assert (local[-1].status, local[-1].sql) == ("success", tiny.QUESTIONS[1][1])  # a trained question


def test_the_server_can_parse_the_tool_calls_itself(tool_model, questions, tmp_path):
    model_dir, _, _ = tool_model
    asked = questions[:2]  # trained: well-formed calls (a malformed one would shut transformers serve 5.23 down)
    local = in_process(model_dir, asked)
    with served(prepare_model_folder(model_dir, tmp_path / "serve", server_parses_tool_calls=True)) as base_url:
        backend = OpenAIBackend(base_url, str(tmp_path / "serve"), max_new_tokens=64)  # no client-side template
        remote = run_agent(asked, backend)
    assert [r.messages for r in remote] == [r.messages for r in local]
    assert [r.status for r in remote] == ["success"] * 2 and backend.parsed_by_server == 8
