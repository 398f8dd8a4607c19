"""Waiting for a Slurm job without a cluster: state changes are logged once each, and scontrol failing is
waited out for a while, then an error."""

from __future__ import annotations

import pytest

from t2s_pipeline.resources import slurm as backend


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(message)


class _Context:
    def __init__(self):
        self.log = _Log()


def test_each_state_is_logged_once_and_a_brief_scontrol_failure_is_waited_out(monkeypatch):
    answers = iter([{"JobState": "PENDING", "Reason": "Resources"}, {"JobState": "PENDING", "Reason": "Resources"},
                    {}, {"JobState": "RUNNING", "NodeList": "gpu[1-2]"}, {"JobState": "RUNNING"},
                    {"JobState": "COMPLETED", "ExitCode": "0:0"}])
    monkeypatch.setattr(backend.slurm, "job_fields", lambda job_id, env: next(answers))
    context = _Context()
    fields = backend._wait(context, "7", poll_seconds=0.001, env={})
    assert fields["JobState"] == "COMPLETED"
    assert context.log.lines == ["Slurm job 7: PENDING (Resources)", "Slurm job 7: RUNNING on gpu[1-2]",
                                 "Slurm job 7: COMPLETED"]


def test_a_job_scontrol_never_shows_again_is_an_error(monkeypatch):
    monkeypatch.setattr(backend.slurm, "job_fields", lambda job_id, env: {})
    with pytest.raises(RuntimeError, match="scontrol has not shown Slurm job 9"):
        backend._wait(_Context(), "9", poll_seconds=0.001, env={}, patience_seconds=0.01)
