"""Model selection: the bookkeeping (best, patience, resume) and the generation eval judged by the core judge."""

from __future__ import annotations

import pytest

from t2s_pipeline.training.selection import Selection, load_selection_items, score


def test_higher_is_better_for_accuracy_and_patience_counts_evaluations_in_a_row():
    s = Selection("execution_accuracy", patience=2)
    assert s.observe(2, 0.1) and s.observe(4, 0.3)
    assert not s.observe(6, 0.3)  # a tie is no improvement
    assert not s.out_of_patience()
    assert s.observe(8, 0.4) and s.evaluations_without_improvement == 0
    assert not s.observe(10, 0.2) and not s.observe(12, 0.35)
    assert s.out_of_patience() and (s.best_step, s.best_value) == (8, 0.4)


def test_lower_is_better_for_the_loss_and_zero_patience_never_stops():
    s = Selection("eval_loss", patience=0)
    assert s.observe(1, 2.0) and s.observe(2, 1.5) and not s.observe(3, 1.6)
    for step in range(4, 20):
        s.observe(step, 9.0)
    assert not s.out_of_patience() and s.best_step == 2


def test_replay_keeps_the_evaluations_before_a_resumed_checkpoint():
    s = Selection("record_f1", patience=3)
    for step, value in ((2, 0.2), (4, 0.5), (6, 0.4), (8, 0.6)):
        s.entry(step)["record_f1"] = value
        s.observe(step, value)
    s.replay(upto_step=6)
    assert [e["step"] for e in s.history] == [2, 4, 6]
    assert (s.best_step, s.best_value, s.evaluations_without_improvement) == (4, 0.5, 1)


def test_the_dev_sample_is_the_first_whole_query_questions(trajectories_dir, music_databases):
    items = load_selection_items(trajectories_dir / "dev.jsonl", music_databases, limit=1)
    assert len(items) == 1 and items[0].db_path.endswith("music.sqlite")
    assert [m["role"] for m in items[0].conversation] == ["system", "user"]
    with pytest.raises(ValueError, match="no whole-query dev sample"):
        load_selection_items(trajectories_dir / "missing.jsonl", music_databases, limit=1)



def test_score_judges_generated_sql_by_execution_with_record_f1(monkeypatch, trajectories_dir, music_databases):
    import t2s_pipeline.modeling.generate as generate

    items = load_selection_items(trajectories_dir / "dev.jsonl", music_databases, limit=2)
    golds = [i.gold_sql for i in items]  # count(*) and count(DISTINCT country)
    replies = [golds[0], "SELECT count(*) FROM singer WHERE country = 'France'"]
    monkeypatch.setattr(generate, "generate_sql", lambda *a, **k: replies)
    monkeypatch.setattr(generate, "default_num_beams", lambda model: 1)

    class Model:
        training = True

        def eval(self):
            self.training = False

        def train(self, mode=True):
            self.training = mode

    model = Model()
    figures = score(model, None, items, num_beams=0, max_new_tokens=8)
    assert figures["execution_accuracy"] == 0.5
    # The second reply returns one row (2) where the gold returns one row (3): no row in common, F1 0.
    assert figures["record_f1"] == 0.5
    assert model.training  # back in training mode
