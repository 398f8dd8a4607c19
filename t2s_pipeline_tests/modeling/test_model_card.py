"""The model card merged_model writes: base model, lineage, training preset, EX table with decoding, how to serve."""

from __future__ import annotations

import json

from t2s_pipeline.modeling.model_card import model_card

REPORT = {"questions": 182, "scored_kind": "whole_query", "protocol": "spider",
          "suite": {"dir": "x", "databases_per_question": 3.5},
          "settings": {"num_beams": 1, "constraint": "rules", "n_samples": 1, "max_new_tokens": 128},
          "base": {"execution_accuracy": 0.1, "execution_accuracy_original_db": 0.12,
                   "execution_accuracy_unseen_sql": None, "exact_match": 0.05},
          "fine_tuned": {"execution_accuracy": 0.48, "execution_accuracy_original_db": 0.5,
                         "execution_accuracy_unseen_sql": 0.2, "exact_match": 0.3},
          "agent": {"settings": {"max_turns": 8}, "fine_tuned": {"execution_accuracy": 0.51}}}


def test_the_card_names_the_lineage_the_preset_and_the_figures(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                      "hidden_size": 192, "num_hidden_layers": 3}))
    card = model_card(REPORT, "fine_tuned", {"base_model": "v1", "lora_adapter": "v2", "eval_report": "v3"}, tmp_path,
                      {"finetuning": "lora", "steps": 1200, "effective_batch_size": 2, "final_loss": 0.25})
    lines = card.splitlines()
    assert lines[0] == "---" and "# Text-to-SQL: SFT adapter merged into LlamaForCausalLM" in lines
    assert "| lora_adapter | v2 |" in lines and "| base_model | v1 |" in lines
    assert "| steps | 1200 |" in lines and "| final_loss | 0.250 |" in lines
    assert "| SFT (merged) | 0.480 | 0.500 | 0.200 | 0.300 | 0.510 |" in lines
    assert "| base | 0.100 | 0.120 | n/a | 0.050 | n/a |" in lines
    assert "Decoding: greedy, constrained to the question's literals and the database's names (hand rules), at most " \
           "128 new tokens." in lines
    assert "test suite (3.5 databases a question)" in card and "t2s serve --model THIS_FOLDER" in card


def test_the_card_names_the_constraint_also_of_a_report_from_before_the_one_knob(tmp_path):
    settings = lambda **s: {**REPORT, "settings": {"num_beams": 1, "max_new_tokens": 128, **s}}
    decoding = lambda report: [line for line in model_card(report, "fine_tuned", {}, tmp_path).splitlines()
                               if line.startswith("Decoding:")]
    assert decoding(settings(constraint="grammar")) == [
        "Decoding: greedy, constrained to the SQL grammar of the question's database, with its linked values, at most "
        "128 new tokens."]
    assert decoding(settings(constrained=True)) == decoding(settings(constraint="rules"))
    assert decoding(settings(constraint="none")) == decoding(settings()) == [
        "Decoding: greedy, at most 128 new tokens."]


def test_without_training_figures_or_agent_the_card_leaves_them_out(tmp_path):
    report = {k: v for k, v in REPORT.items() if k != "agent"}
    card = model_card(report, "fine_tuned", {}, tmp_path)
    assert "## Training" not in card and "agent EX" not in card and "| SFT (merged) | 0.480 |" in card
