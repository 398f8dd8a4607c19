"""Agent throughput: questions per second in-process and through `transformers serve`, against single-turn
generation of the same questions in the same run, and the share of time spent running tools.

    PYTHONPATH=. .venv/bin/python bench/agent_throughput.py [--storage /work/baseline/.t2s_storage]
        [--questions 24] [--batch-size 8] [--max-new-tokens 128] [--no-server] [--threads 1]

The model is the store's base model with its current lora_adapter (SFT) when there is one; the questions
the first --questions test questions of its trajectories. Greedy. In-process the agent is batched across
questions (--batch-size); the server answers one request at a time (transformers serve on 127.0.0.1,
CPU, float32), as the agent sends them. The agent conversations, turn counts and statuses are printed
too: a model not trained on tool conversations (tool_share 0) mostly answers in one turn.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="/work/baseline/.t2s_storage")
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-server", action="store_true", help="skip the transformers serve measurement")
    args = parser.parse_args()

    import torch

    from t2s_pipeline.evaluation.agent_eval import agent_questions
    from t2s_pipeline.evaluation.report import load_test_samples
    from t2s_pipeline.modeling.agent import AgentLimits, run_agent, summary
    from t2s_pipeline.modeling.agent_backends import LocalBackend, OpenAIBackend, response_template_for
    from t2s_pipeline.modeling.generate import generate_sql, load_model
    from t2s_pipeline.modeling.serve import free_port, prepare_model_folder, serve_command, serve_env, wait_until_up
    from t2s_pipeline.resources.storage import current_version_path

    if args.threads:
        torch.set_num_threads(args.threads)
    store = args.storage
    base, trajectories, raw = (current_version_path(store, k) for k in ("base_model", "trajectories",
                                                                       "raw_benchmarks"))
    adapter_root = current_version_path(store, "lora_adapter")
    adapter = adapter_root / "adapter" if adapter_root else None
    print(f"model: {base} + {adapter or 'no adapter (none stored yet)'}")
    samples = load_test_samples(trajectories, args.questions)
    questions = agent_questions(samples, raw)
    limits = AgentLimits(max_turns=args.max_turns)
    model, tokenizer = load_model(str(base), str(adapter) if adapter else None)

    start = time.monotonic()
    generate_sql(model, tokenizer, [[m for m in s["messages"] if m["role"] != "assistant"] for s in samples],
                 args.batch_size, args.max_new_tokens)
    single_s = time.monotonic() - start
    single_qps = len(samples) / single_s
    print(f"single-turn generation: {len(samples)} questions in {single_s:.1f} s = {single_qps:.2f} questions/s")

    start = time.monotonic()
    runs = run_agent(questions, LocalBackend(model, tokenizer, args.batch_size, args.max_new_tokens), limits)
    local_s = time.monotonic() - start
    local = summary(runs)
    local_qps = len(runs) / local_s
    print(f"agent in-process (batch {args.batch_size}): {local_qps:.2f} questions/s "
          f"({local_qps / single_qps:.2f}x single-turn), {local['turns_per_question']} turns and "
          f"{local['tool_calls_per_question']} tool calls a question, statuses {local['statuses']}, "
          f"time generating {local['generate_s']:.1f} s, running tools {local['tools_s']:.2f} s "
          f"(tools share {local['tools_share']:.4f})")
    if args.no_server:
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        folder = prepare_model_folder(base, Path(tmp) / "serve", adapter)
        port = free_port()
        server = subprocess.Popen(serve_command(folder, port=port), env=serve_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            up_s = wait_until_up(base_url, server)
            backend = OpenAIBackend(base_url, str(folder), args.max_new_tokens, response_template_for(tokenizer))
            start = time.monotonic()
            remote_runs = run_agent(questions, backend, limits)
            remote_s = time.monotonic() - start
        finally:
            server.terminate()
            server.wait(timeout=30)
    remote = summary(remote_runs)
    remote_qps = len(remote_runs) / remote_s
    same = sum(a.sql == b.sql for a, b in zip(runs, remote_runs))
    print(f"agent through transformers serve (started in {up_s:.1f} s, one request at a time): "
          f"{remote_qps:.2f} questions/s ({remote_qps / local_qps:.2f}x in-process), statuses {remote['statuses']}, "
          f"tools share {remote['tools_share']:.4f}; same final query as in-process on {same}/{len(runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
