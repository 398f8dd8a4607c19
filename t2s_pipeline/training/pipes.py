"""Dagster Pipes for the training process: rank 0 talks to Dagster, other ranks stay quiet.

Only one process may open Pipes (every rank opening it fails the run), and a training script
started by hand, outside Dagster, has no Pipes at all: both get a stand-in that logs to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys


class _LocalPipes:
    """Same calls as a PipesContext, printed instead of sent."""

    def __init__(self, quiet: bool):
        self.log = logging.getLogger("t2s.train")
        if not self.log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self.log.addHandler(handler)
        self.log.setLevel(logging.WARNING if quiet else logging.INFO)

    def report_custom_message(self, payload):
        self.log.info(f"final metrics: {payload}")


@contextlib.contextmanager
def open_pipes_on_rank0():
    is_rank0 = int(os.environ.get("RANK", "0")) == 0
    if is_rank0 and os.environ.get("DAGSTER_PIPES_CONTEXT"):
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            yield pipes
    else:
        yield _LocalPipes(quiet=not is_rank0)


def leave_process_group() -> None:
    """End a multi-process run cleanly: every rank waits for the others, then leaves the process group. Left to
    the interpreter's exit, a rank whose work was done aborted now and then on the CPU ("terminate called
    without an active exception", exit -6; seen in CI on 2-process gloo runs), which failed the launch."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
