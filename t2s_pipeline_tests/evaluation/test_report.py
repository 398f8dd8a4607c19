"""render_markdown, summarize, the plots, and evaluate() end to end on the tiny model."""

from __future__ import annotations

import json

import pytest

from t2s_pipeline.evaluation.plots import markdown_image, read_loss_log, write_plots
from t2s_pipeline.evaluation.report import evaluate, pick_examples, render_markdown, summarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def summary(ex, ex_unseen, em, loss, ppl, by_benchmark, by_difficulty):
    return {"n": 4, "execution_accuracy": ex, "execution_accuracy_unseen_sql": ex_unseen, "exact_match": em,
            "record_f1": ex, "loss": loss, "perplexity": ppl, "by_benchmark": by_benchmark,
            "by_difficulty": by_difficulty, "verdicts": {"ok": int(ex * 4), "wrong_result": 4 - int(ex * 4)}}


REPORT = {
    "questions": 4,
    "protocol": "spider",
    "base": summary(0.25, None, 0.0, 2.5, 12.182,
                    {"bird": {"n": 1, "ex": 0.0, "em": 0.0, "f1": 0.0},
                     "spider": {"n": 3, "ex": 0.3333, "em": 0.0, "f1": 0.5}},
                    {"easy": {"n": 4, "ex": 0.25, "em": 0.0, "f1": 0.4}}),
    "fine_tuned": summary(0.75, 0.5, 0.5, 0.75, 2.117,
                          {"bird": {"n": 1, "ex": 1.0, "em": 1.0, "f1": 1.0},
                           "spider": {"n": 3, "ex": 0.6667, "em": 0.3333, "f1": 0.8}},
                          {"easy": {"n": 4, "ex": 0.75, "em": 0.5, "f1": 0.85}}),
    "ex_gain": 0.5,
}
PREDICTIONS = [
    {"model": "base", "question": "base only question", "pred_sql": "SELECT 0", "reason": "wrong_result", "ex": False},
    {"model": "fine_tuned", "question": "How many singers?", "pred_sql": "SELECT count(*) FROM singer", "reason": "ok",
     "ex": True, "gold_sql": "SELECT count(*) FROM singer"},
    {"model": "fine_tuned", "question": "Names | ages?", "pred_sql": "FROM singer\n|> SELECT name, age",
     "reason": "wrong_result", "ex": False, "gold_sql": "SELECT name FROM singer"},
    {"model": "fine_tuned", "question": "Oldest?", "pred_sql": "", "reason": "not_sql", "ex": False,
     "gold_sql": "SELECT max(age) FROM singer"},
]


def test_metric_table_rows():
    md = render_markdown(REPORT, PREDICTIONS)
    lines = md.splitlines()
    assert lines[0] == "# Evaluation on 4 held-out questions"
    assert "| metric | base | fine-tuned |" in lines
    for row in [
        "| execution_accuracy | 0.250 | 0.750 |",
        "| execution_accuracy_unseen_sql | n/a | 0.500 |",
        "| exact_match | 0.000 | 0.500 |",
        "| record_f1 | 0.250 | 0.750 |",
        "| loss | 2.500 | 0.750 |",
        "| perplexity | 12.182 | 2.117 |",
    ]:
        assert row in lines, row


def test_breakdown_tables():
    lines = render_markdown(REPORT, PREDICTIONS).splitlines()
    assert "## EX by benchmark" in lines and "## EX by difficulty" in lines
    assert "| bird | 1 | 0.000 | 1.000 | 0.000 | 1.000 | 1.000 |" in lines
    assert "| spider | 3 | 0.333 | 0.667 | 0.000 | 0.333 | 0.800 |" in lines
    assert "| easy | 4 | 0.250 | 0.750 | 0.000 | 0.500 | 0.850 |" in lines
    assert "| wrong_result | 3 | 1 |" in lines  # the verdict counts


def test_example_predictions_are_fine_tuned_only_and_escaped():
    md = render_markdown(REPORT, PREDICTIONS)
    lines = md.splitlines()
    assert "| How many singers? | `SELECT count(*) FROM singer` | ok | `SELECT count(*) FROM singer` |" in lines
    assert "| Names \\| ages? | `FROM singer \\|> SELECT name, age` | wrong_result | `SELECT name FROM singer` |" in lines
    assert "| Oldest? | (empty) | not_sql | `SELECT max(age) FROM singer` |" in lines
    assert "base only question" not in md
    assert md.endswith("\n")


def test_ten_examples_mix_right_and_wrong_in_their_order():
    rows = [{"model": "fine_tuned", "ex": i % 4 == 0, "i": i} for i in range(40)]
    picked = pick_examples(rows)
    assert len(picked) == 10
    assert sum(p["ex"] for p in picked) == 5
    assert [p["i"] for p in picked] == sorted(p["i"] for p in picked)
    assert len(pick_examples(rows[:3])) == 3
    assert len(pick_examples([r for r in rows if r["ex"]])) == 10


def test_summarize_breaks_down_by_benchmark_difficulty_and_database():
    rows = [
        {"benchmark": "spider", "difficulty": "easy", "db_id": "a", "ex": True, "em": True, "f1": 1.0,
         "reason": "ok", "sql_seen_in_train": False, "loss_sum": 2.0, "loss_tokens": 2},
        {"benchmark": "spider", "difficulty": "hard", "db_id": "b", "ex": False, "em": False, "f1": 0.5,
         "reason": "wrong_result", "sql_seen_in_train": True, "loss_sum": 6.0, "loss_tokens": 2},
    ]
    s = summarize(rows)
    assert s["execution_accuracy"] == 0.5 and s["exact_match"] == 0.5 and s["record_f1"] == 0.75
    assert s["execution_accuracy_unseen_sql"] == 1.0 and s["unseen_sql_questions"] == 1
    assert s["loss"] == 2.0 and s["perplexity"] == pytest.approx(7.389, abs=1e-3)  # token-weighted mean
    assert s["verdicts"] == {"ok": 1, "wrong_result": 1}
    assert list(s["by_difficulty"]) == ["easy", "hard"]
    assert s["by_database"]["b"] == {"n": 1, "ex": 0.0, "em": 0.0, "f1": 0.5, "loss": 3.0,
                                     "perplexity": pytest.approx(20.086, abs=1e-3)}
    assert s["by_benchmark"]["spider"]["n"] == 2


def test_plots_are_pngs(tmp_path, lora_adapter_dir):
    train, evals = read_loss_log(lora_adapter_dir / "loss_log.jsonl")
    assert len(train) == 10 and evals == [(5, 2.8), (10, 2.4)]
    written = write_plots(REPORT, tmp_path, lora_adapter_dir / "loss_log.jsonl")
    assert set(written) == {"loss_curves", "accuracy_by_difficulty", "accuracy_by_benchmark"}  # two benchmarks
    for path in written.values():
        assert path.read_bytes().startswith(PNG_MAGIC)
    assert markdown_image(written["loss_curves"], "loss").startswith("![loss](data:image/png;base64,iVBORw0KGgo")
    # No loss log: no loss plot, the others still come.
    assert "loss_curves" not in write_plots(REPORT, tmp_path, tmp_path / "absent.jsonl")


def test_evaluate_writes_the_report_files(tmp_path, tiny_base_dir, lora_adapter_dir, trajectories_dir, raw_dir):
    out = tmp_path / "eval_report"
    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", trajectories_dir, raw_dir, out,
                      max_new_tokens=8, log=lambda m: None)
    assert {"report.json", "report.md", "predictions.jsonl", "loss_curves.png",
            "accuracy_by_difficulty.png"} <= {p.name for p in out.iterdir()}
    assert not (out / "accuracy_by_benchmark.png").exists()  # one benchmark: no benchmark plot
    assert json.loads((out / "report.json").read_text()) == report
    assert report["questions"] == 2
    for name in ("base", "fine_tuned"):
        s = report[name]
        for key in ("execution_accuracy", "execution_accuracy_unseen_sql", "exact_match", "record_f1", "loss",
                    "perplexity", "by_benchmark", "by_difficulty", "by_database", "verdicts"):
            assert key in s, key
        assert s["loss"] > 0 and s["perplexity"] > 1
    assert "ex_gain" in report
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    by_model = {m: [p for p in predictions if p["model"] == m] for m in ("base", "fine_tuned")}
    comparison = report["comparisons"]["fine_tuned_vs_base"]  # counted from the predictions' verdicts
    assert comparison["fixed"] == sum(t["ex"] and not b["ex"] for b, t in zip(by_model["base"], by_model["fine_tuned"]))
    assert comparison["broken"] == sum(b["ex"] and not t["ex"] for b, t in zip(by_model["base"], by_model["fine_tuned"]))
    assert comparison["answers_changed"] == sum(b["pred_sql"].strip() != t["pred_sql"].strip()
                                                for b, t in zip(by_model["base"], by_model["fine_tuned"]))
    assert len(predictions) == 4 and {p["model"] for p in predictions} == {"base", "fine_tuned"}
    assert all(p["reason"] in ("ok", "wrong_result", "exec_error", "timeout", "denied", "not_sql") for p in predictions)
    assert "## EX by difficulty" in (out / "report.md").read_text()
    assert report["settings"]["constraint"] == "none"
    assert "sampled_execution_accuracy" not in report["fine_tuned"]  # sampled_ex 0: not drawn, no row
    assert "sampled_execution_accuracy" not in (out / "report.md").read_text()


@pytest.mark.parametrize("constraint", ["rules", "grammar"])
def test_evaluate_can_constrain_every_models_decoding(tmp_path, tiny_base_dir, lora_adapter_dir, trajectories_dir,
                                                      raw_dir, monkeypatch, constraint):
    from t2s_pipeline.modeling import generate

    seen = []
    original = generate._complete
    monkeypatch.setattr(generate, "_complete", lambda *a, **k: seen.append(k.get("contexts")) or original(*a, **k))
    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", trajectories_dir, raw_dir, tmp_path / "report",
                      max_new_tokens=8, log=lambda m: None, plots=False, constraint=constraint)
    assert report["settings"]["constraint"] == constraint
    assert len(seen) == 2 and all(len(c) == 2 for c in seen)
    if constraint == "rules":
        assert all(c[0].tables == {"singer": ["id", "name", "age", "country"]} for c in seen)
    else:  # the database's names are the grammar's
        assert all('"singer"i' in c[0].grammar and '"country"i' in c[0].grammar for c in seen)


def test_evaluate_constrains_an_encoder_decoder_models_beams(tmp_path, tiny_t5_dir, trajectories_dir, raw_dir,
                                                              monkeypatch):
    from t2s_pipeline.modeling import generate

    seen = []
    original = generate._complete_seq2seq
    monkeypatch.setattr(generate, "_complete_seq2seq",
                        lambda *a: seen.append((a[5], a[6])) or original(*a))  # (num_beams, contexts)
    report = evaluate(tiny_t5_dir, tiny_t5_dir, trajectories_dir, raw_dir, tmp_path / "report", max_new_tokens=4,
                      log=lambda m: None, plots=False, constraint="default", num_beams=2)
    # default: the tiny T5 folder's own (t2s_decoding.json says rules)
    assert report["architecture"] == "encoder-decoder" and report["settings"]["constraint"] == "rules"
    assert len(seen) == 2 and all(beams == 2 and len(c) == 2 and "singer" in c[0].tables for beams, c in seen)


def _pipe_trajectories(folder, with_sql: bool):
    """A trajectories folder whose test split holds pipe samples (and the SQL ones when with_sql)."""
    from t2s_pipeline.records import write_jsonl
    from t2s_pipeline.samples.trajectories import pair_samples
    from t2s_pipeline_tests.training import tiny

    pipe_of = {"SELECT count(*) FROM singer": ("FROM singer\n|> AGGREGATE count(*) AS n", ["AGGREGATE"]),
               "SELECT name FROM singer WHERE age > 30": ("FROM singer\n|> WHERE age > 30\n|> SELECT name",
                                                          ["WHERE", "SELECT"])}
    folder.mkdir(parents=True)
    splits = {"train": [], "test": []}
    for i, (question, sql) in enumerate(tiny.QUESTIONS):
        if sql not in pipe_of:
            continue
        pipe_sql, ops = pipe_of[sql]
        pair = {"id": f"mini/{i}", "db_id": "music", "benchmark": "mini", "question": question, "gold_sql": sql,
                "pipe_sql": pipe_sql, "pipe_ops": ops}
        for split in splits:
            splits[split] += pair_samples(pair, tiny.SCHEMA, "both" if with_sql else "pipe")
    for split in ("train", "dev", "test"):
        write_jsonl(folder / f"{split}.jsonl", splits.get(split, []))
    return folder


def test_a_pipe_only_test_split_is_scored_on_its_whole_pipe_queries(tmp_path, tiny_base_dir, lora_adapter_dir,
                                                                   raw_dir):
    from t2s_pipeline.evaluation.report import load_test_samples

    pipe_only = _pipe_trajectories(tmp_path / "pipe", with_sql=False)
    assert {s["meta"]["kind"] for s in load_test_samples(pipe_only)} == {"pipe_whole_query"}
    both = _pipe_trajectories(tmp_path / "both", with_sql=True)
    assert {s["meta"]["kind"] for s in load_test_samples(both)} == {"whole_query"}

    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", pipe_only, raw_dir, tmp_path / "report",
                      max_new_tokens=8, log=lambda m: None, plots=False)
    assert report["scored_kind"] == "pipe_whole_query" and report["questions"] == 2
    assert report["fine_tuned"]["loss"] > 0


def test_pipe_answers_decode_under_the_pipe_grammar(tmp_path, tiny_base_dir, lora_adapter_dir, raw_dir, monkeypatch):
    from t2s_pipeline.modeling import generate

    seen = []
    original = generate._complete
    monkeypatch.setattr(generate, "_complete", lambda *a, **k: seen.append(k.get("contexts")) or original(*a, **k))
    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", _pipe_trajectories(tmp_path / "pipe", False),
                      raw_dir, tmp_path / "report", max_new_tokens=8, log=lambda m: None, plots=False,
                      constraint="grammar")
    assert report["scored_kind"] == "pipe_whole_query" and seen
    assert all('"|>"' in c.grammar for contexts in seen for c in contexts)


def test_sampled_ex_is_the_share_correct_of_the_drawn_queries(tmp_path, tiny_base_dir, lora_adapter_dir,
                                                               trajectories_dir, raw_dir, monkeypatch):
    import t2s_pipeline.evaluation.report as report_module

    real = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", trajectories_dir, raw_dir, tmp_path / "real",
                    max_new_tokens=8, log=lambda m: None, plots=False, sampled_ex=2, temperature=0.7)
    assert 0.0 <= real["fine_tuned"]["sampled_execution_accuracy"] <= 1.0
    assert real["settings"]["sampled_ex"] == 2 and real["settings"]["temperature"] == 0.7

    drawn = []  # each question's gold query, then a wrong one: half of the draws are right

    def fake_sample_sql(model, tokenizer, conversations, n, *args, **kwargs):
        golds = [json.loads(line)["meta"]["gold_sql"] for line in (trajectories_dir / "test.jsonl").read_text().splitlines()]
        drawn.append(n)
        return [[gold, "SELECT 'no such answer'"] for gold in golds[:len(conversations)]]

    monkeypatch.setattr(report_module, "sample_sql", fake_sample_sql)
    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", trajectories_dir, raw_dir, tmp_path / "fake",
                      max_new_tokens=8, log=lambda m: None, plots=False, sampled_ex=2)
    assert drawn == [2, 2]  # base and fine-tuned
    assert report["base"]["sampled_execution_accuracy"] == report["fine_tuned"]["sampled_execution_accuracy"] == 0.5
    assert "| sampled_execution_accuracy | 0.500 | 0.500 |" in (tmp_path / "fake" / "report.md").read_text()
    assert "| sampled_execution_accuracy |" in (tmp_path / "real" / "report.md").read_text()
    with pytest.raises(ValueError, match="sampled_ex samples whole queries"):
        evaluate(tiny_base_dir, None, trajectories_dir, raw_dir, tmp_path / "x", sampled_ex=2, incremental=True)


def test_a_test_split_without_whole_query_samples_is_a_clear_error(tmp_path):
    from t2s_pipeline.evaluation.report import load_test_samples
    from t2s_pipeline.records import write_jsonl

    folder = _pipe_trajectories(tmp_path / "pipe", with_sql=False)
    steps_only = [s for s in map(json.loads, (folder / "test.jsonl").read_text().splitlines())
                  if s["meta"]["kind"] == "pipe_step"]
    write_jsonl(folder / "test.jsonl", steps_only)
    with pytest.raises(ValueError, match="no test sample of kind whole_query or pipe_whole_query"):
        load_test_samples(folder)


def test_exact_match_of_a_pipe_sample_is_against_its_gold_pipe_query():
    from t2s_pipeline.evaluation.report import _prediction_row
    from t2s_pipeline.samples.steps import pipe_whole_query_sample
    from t2s_pipeline_tests.training import tiny

    pair = {"id": "mini/0", "db_id": "music", "benchmark": "mini", "question": "How many singers are there?",
            "gold_sql": "SELECT count(*) FROM singer", "pipe_sql": "FROM singer\n|> AGGREGATE count(*) AS n",
            "pipe_ops": ["AGGREGATE"]}
    sample = pipe_whole_query_sample(pair, tiny.SCHEMA)
    verdict = {"correct": True, "reason": "ok", "error": "", "f1": 1.0}
    assert _prediction_row("fine_tuned", sample, pair["pipe_sql"], verdict, (1.0, 3))["em"] is True
    assert _prediction_row("fine_tuned", sample, pair["gold_sql"], verdict, (1.0, 3))["em"] is False


def test_an_alpaca_test_split_is_generated_with_the_alpaca_prompt(tmp_path, tiny_base_dir, lora_adapter_dir,
                                                                  raw_dir, monkeypatch):
    from t2s_pipeline.modeling import generate
    from t2s_pipeline.records import read_jsonl, write_jsonl
    from t2s_pipeline_tests.training import tiny

    folder = tiny.write_trajectories(tmp_path / "traj")
    for split in ("train", "test"):
        write_jsonl(folder / f"{split}.jsonl", [{**s, "format": "alpaca"} for s in read_jsonl(folder / f"{split}.jsonl")])
    prompts = []
    real_complete = generate._complete

    def spy(model, tokenizer, conversations, *args, **kwargs):
        prompts.extend(tokenizer.apply_chat_template(c, tokenize=False, chat_template=args[-1]) for c in conversations)
        return real_complete(model, tokenizer, conversations, *args, **kwargs)

    monkeypatch.setattr(generate, "_complete", spy)
    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", folder, raw_dir, tmp_path / "report",
                      max_new_tokens=4, log=lambda m: None, plots=False)
    assert report["questions"] == 2 and report["fine_tuned"]["loss"] > 0
    assert len(prompts) == 4 and all(p.startswith("Below is an instruction") and p.endswith("### Response:\n")
                                     for p in prompts)


def test_exact_match_of_a_cot_answer_is_against_the_sql_in_its_block():
    from t2s_pipeline.evaluation.report import _prediction_row
    from t2s_pipeline.samples.trajectories import whole_query_sample
    from t2s_pipeline_tests.training import tiny

    pair = {"id": "mini/0", "db_id": "music", "benchmark": "mini", "question": "How many singers are there?",
            "gold_sql": "SELECT count(*) FROM singer", "cot": "Count every row of singer."}
    sample = whole_query_sample(pair, tiny.SCHEMA, cot=True)
    verdict = {"correct": True, "reason": "ok", "error": "", "f1": 1.0}
    assert _prediction_row("fine_tuned", sample, "SELECT count(*) FROM singer", verdict, (1.0, 3))["em"] is True


def test_the_paired_comparison_table_shows_each_stage_against_its_start():
    report = {**REPORT, "comparisons": {
        "fine_tuned_vs_base": {"fixed": 3, "broken": 1, "net": 2, "p_value": 0.625, "answers_changed": 4},
        "rl_vs_fine_tuned": {"fixed": 2, "broken": 1, "net": 1, "p_value": 1.0, "answers_changed": 8}}}
    lines = render_markdown(report, PREDICTIONS).splitlines()
    assert "## Paired comparison" in lines
    assert "| fine-tuned against base | 4 | 3 | 1 | +2 | 0.625 |" in lines
    assert "| RL against fine-tuned | 8 | 2 | 1 | +1 | 1.000 |" in lines
    assert "## Paired comparison" not in render_markdown(REPORT, PREDICTIONS)


def test_best_adapter_is_the_higher_of_sft_and_rl_among_those_not_worse_than_base():
    from t2s_pipeline.evaluation.report import best_adapter

    def report(base, sft, rl=None, sft_unseen=0.0, rl_unseen=0.0):
        r = {"base": {"execution_accuracy": base},
             "fine_tuned": {"execution_accuracy": sft, "execution_accuracy_unseen_sql": sft_unseen}}
        if rl is not None:
            r["rl"] = {"execution_accuracy": rl, "execution_accuracy_unseen_sql": rl_unseen}
        return r

    assert best_adapter(report(0.1, 0.3, 0.4)) == "rl"
    assert best_adapter(report(0.1, 0.4, 0.3)) == "fine_tuned"
    assert best_adapter(report(0.1, 0.4, 0.4, sft_unseen=0.1, rl_unseen=0.2)) == "rl"
    assert best_adapter(report(0.1, 0.4, 0.4)) == "fine_tuned"  # a full tie keeps the simpler adapter
    assert best_adapter(report(0.5, 0.4, 0.6)) == "rl"
    assert best_adapter(report(0.5, 0.4, 0.3)) is None
    assert best_adapter(report(0.1, 0.3)) == "fine_tuned"


def test_a_suite_report_gives_ex_on_the_original_database_and_on_the_suite_side_by_side():
    rows = [{"ex": True, "ex_original": True, "em": False, "f1": 1.0, "reason": "ok"},
            {"ex": False, "ex_original": True, "em": False, "f1": 0.5, "reason": "wrong_result"},
            {"ex": False, "ex_original": False, "em": False, "f1": 0.0, "reason": "wrong_result"},
            {"ex": True, "ex_original": True, "em": True, "f1": 1.0, "reason": "ok"}]
    s = summarize(rows)
    assert (s["execution_accuracy"], s["execution_accuracy_original_db"], s["caught_by_suite"]) == (0.5, 0.75, 1)
    report = {**REPORT, "suite": {"dir": "suites", "databases_per_question": 7.5},
              "base": {**REPORT["base"], "execution_accuracy_original_db": 0.5, "caught_by_suite": 1},
              "fine_tuned": {**REPORT["fine_tuned"], "execution_accuracy_original_db": 0.75, "caught_by_suite": 1}}
    lines = render_markdown(report, PREDICTIONS).splitlines()
    assert "| execution_accuracy (original database) | 0.500 | 0.750 |" in lines
    assert "| execution_accuracy (test suite) | 0.250 | 0.750 |" in lines
    assert "| correct on the original database, wrong on the suite | 1 | 1 |" in lines
    assert "| execution_accuracy | 0.250 | 0.750 |" not in lines  # not twice
    assert any("7.5 databases per question" in line for line in lines)


def test_evaluate_judges_on_the_suite(tmp_path, tiny_base_dir, lora_adapter_dir, trajectories_dir, raw_dir):
    from t2s_pipeline.evaluation.report import load_test_samples
    from t2s_pipeline.sql.test_suite import SuiteConfig, generate_suites

    golds = [s["meta"]["gold_sql"] for s in load_test_samples(trajectories_dir)]
    generate_suites([("music", raw_dir / "databases" / "music.sqlite", golds)], tmp_path / "suites",
                    SuiteConfig(candidates=8), workers=1, log=lambda m: None)
    out = tmp_path / "eval_report"
    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", trajectories_dir, raw_dir, out,
                      max_new_tokens=8, log=lambda m: None, plots=False, suite_dir=tmp_path / "suites")
    assert report["suite"]["databases_per_question"] > 1
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(p["ex"] <= p["ex_original"] for p in predictions)  # the suite only ever takes "correct" away
    for name in ("base", "fine_tuned"):
        rows = [p for p in predictions if p["model"] == name]
        assert report[name]["caught_by_suite"] == sum(p["ex_original"] and not p["ex"] for p in rows)
    assert "execution_accuracy (test suite)" in (out / "report.md").read_text()


def test_the_report_names_the_decoding_of_each_figure(tmp_path, tiny_base_dir, lora_adapter_dir, trajectories_dir,
                                                      raw_dir):
    report = evaluate(tiny_base_dir, lora_adapter_dir / "adapter", trajectories_dir, raw_dir, tmp_path / "report",
                      max_new_tokens=4, log=lambda m: None, plots=False, constraint="rules", sampled_ex=2,
                      temperature=0.7)
    assert report["settings"]["decoding"] == "greedy, constrained (rules)"
    assert [report[m]["decoding"] for m in ("base", "fine_tuned")] == ["greedy, constrained (rules)"] * 2
    assert report["fine_tuned"]["sampled_decoding"] == ("sampled at temperature 0.7, 2 queries a question, "
                                                        "constrained (rules)")
    assert ("Decoding: greedy, constrained (rules); sampled EX: sampled at temperature 0.7, 2 queries a question, "
            "constrained (rules).") in (tmp_path / "report" / "report.md").read_text()
