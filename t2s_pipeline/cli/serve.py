"""`t2s serve`: serve a stored model over the OpenAI API with `transformers serve`, for `t2s ask --agent --server`,
eval_report's agent or any OpenAI client.

    t2s serve --model DIR [--adapter DIR] [--host 127.0.0.1] [--port 8000] [--device cpu] [--folder DIR]

--model is a merged model folder (merged_model's model/) or a base model, with --adapter a LoRA adapter
(merged into a new folder first). The server binds to 127.0.0.1 unless --host says otherwise. The
folder it loads (--folder, else a temporary one) links the stored weights and sets the stop tokens
(modeling/serve.py). --server-parses-tool-calls gives the server the family's response template, so it
answers with `tool_calls` (a malformed call then fails the request in transformers 5.23); by default the
reply is text and the agent parses the tool calls on the client. --dry-run prepares the folder and prints
the command without starting it. On a GPU, vLLM serves the same folder (docs/agent.md).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def run_serve(args: argparse.Namespace) -> int:
    from t2s_pipeline.modeling.serve import prepare_model_folder, serve_command, serve_env

    for flag, path in (("--model", args.model), ("--adapter", args.adapter)):
        if path and not Path(path).is_dir():
            print(f"t2s serve: {flag} folder not found: {path}", file=sys.stderr)
            return 2
    folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="t2s_serve_")) / "model"
    try:
        prepare_model_folder(args.model, folder, args.adapter, args.server_parses_tool_calls)
    except (ValueError, FileNotFoundError) as e:
        print(f"t2s serve: {e}", file=sys.stderr)
        return 2
    command = serve_command(folder, args.host, args.port, args.device)
    print(f"serving {folder}\nOpenAI base URL: http://{args.host}:{args.port}/v1 (model name: {folder})")
    print("command: " + shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    server = subprocess.Popen(command, env=serve_env())
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve a model over the OpenAI API (transformers serve)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a merged model folder, or a base model with --adapter")
    p.add_argument("--adapter", help="a LoRA adapter folder, merged into --model before serving")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:0, auto")
    p.add_argument("--folder", help="where to write the folder the server loads (must be empty; default: a new "
                                    "temporary folder)")
    p.add_argument("--server-parses-tool-calls", action="store_true",
                   help="let the server parse tool calls (the reply's tool_calls) instead of the client")
    p.add_argument("--dry-run", action="store_true", help="prepare the folder, print the command, start nothing")
    p.set_defaults(func=run_serve)
