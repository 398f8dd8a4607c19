"""The vLLM path (modeling/vllm_grammar.py): request parameters carry the same grammar HF decoding uses, in a
form vLLM's guidance backend reads (vLLM itself needs a GPU and is not installed: its reading is replayed)."""

from __future__ import annotations


import llguidance
import pytest

from t2s_pipeline.modeling.grammar_decoding import engine_tokenizer, grammar_contexts
from t2s_pipeline.modeling.vllm_grammar import VLLM_ENGINE_OPTIONS, structured_outputs_body, vllm_sampling_params


def test_the_request_carries_the_grammar_hf_decoding_uses_and_vllms_guidance_reading_keeps_its_meaning(singer_db):
    from t2s_pipeline.training.tiny_model import train_tokenizer

    question = "Which singers are from France?"
    body = structured_outputs_body(question, singer_db)
    assert list(body) == ["structured_outputs"] and list(body["structured_outputs"]) == ["grammar"]
    assert body["structured_outputs"]["grammar"] == grammar_contexts([question], [singer_db])[0].grammar
    assert VLLM_ENGINE_OPTIONS == {"structured_outputs_config": {"backend": "guidance"}}

    # what vLLM's guidance backend does with a `grammar` request: grammar_from("grammar", ...), validate_grammar
    serialized = llguidance.grammar_from("grammar", body["structured_outputs"]["grammar"])
    tokenizer = train_tokenizer(["SELECT name FROM singer WHERE country = 'France'"] * 10, 300)
    engine = engine_tokenizer(tokenizer)
    assert llguidance.LLMatcher.validate_grammar(serialized, engine) == ""

    def takes(sql: str) -> bool:
        matcher = llguidance.LLMatcher(engine, serialized, log_level=0)
        return matcher.consume_tokens(tokenizer.encode(sql, add_special_tokens=False)) and matcher.is_accepting()

    assert takes("SELECT name FROM singer WHERE country = 'France'")
    assert not takes("SELECT name FROM singer WHERE country = 'Spain'")  # the linked value holds
    assert not takes("SELECT height FROM singer")  # names from the database only


def test_offline_sampling_params_need_vllm(singer_db):
    pytest.importorskip("vllm", reason="vLLM is not installed (it needs a GPU); the request body is tested above")
    params = vllm_sampling_params("Which singers are from France?", singer_db, temperature=0.7, n=4)
    assert params.structured_outputs.grammar == structured_outputs_body("Which singers are from France?",
                                                                       singer_db)["structured_outputs"]["grammar"]
