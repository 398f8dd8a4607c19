"""The same SQL grammar for vLLM, where vLLM generates (GPU evaluation, GRPO sampling on the 7B preset).

vLLM (0.12 and later; docs.vllm.ai, "Structured Outputs") takes a context-free grammar per request:
`structured_outputs={"grammar": text}` in the body of an OpenAI-compatible request (`extra_body` in the
openai client), or `SamplingParams(structured_outputs=StructuredOutputsParams(grammar=text))` offline. Our
grammar is Lark as llguidance reads it (case-insensitive literals, `&`/`~` in terminals), so the engine must
use vLLM's `guidance` backend: `vllm serve --structured-outputs-config.backend guidance`, or
`LLM(..., structured_outputs_config={"backend": "guidance"})` (VLLM_ENGINE_OPTIONS). vLLM reads the text with
llguidance.grammar_from("grammar", text) and validates it with LLMatcher.validate_grammar: the unit test
does the same. vLLM is not installed here (it needs a GPU): nothing in this module imports it at load time.
"""

from __future__ import annotations

from pathlib import Path

from t2s_pipeline.modeling.grammar_decoding import question_grammar

VLLM_BACKEND = "guidance"
VLLM_ENGINE_OPTIONS = {"structured_outputs_config": {"backend": VLLM_BACKEND}}
VLLM_SERVE_FLAGS = ["--structured-outputs-config.backend", VLLM_BACKEND]


def structured_outputs_body(question: str, db_path: str | Path) -> dict:
    """The extra body of an OpenAI-compatible request to vLLM that constrains the reply to the question's grammar
    (its database's names, its linked values): merge it into the request (`extra_body=` in the openai client)."""
    return {"structured_outputs": {"grammar": question_grammar(question, db_path)}}


def vllm_sampling_params(question: str, db_path: str | Path, **sampling):
    """vllm.SamplingParams for offline generation under the question's grammar (`sampling`: temperature, n, ...)."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    grammar = structured_outputs_body(question, db_path)["structured_outputs"]["grammar"]
    return SamplingParams(structured_outputs=StructuredOutputsParams(grammar=grammar), **sampling)
