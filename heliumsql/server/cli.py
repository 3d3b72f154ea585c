"""``heliumsql serve``: the local engine as an OpenAI-compatible server.

>>> main(["--model", "path/to/checkpoint", "--port", "8000"])           # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="heliumsql serve",
        description="Serve HeliumSQL's local engine with OpenAI's HTTP API (/v1/models, "
                    "/v1/completions, /v1/chat/completions); every client shares its batches and "
                    "prefix cache.")
    p.add_argument("-m", "--model", default=os.environ.get("HELIUMSQL_MODEL") or None,
                   help="model checkpoint directory or cached Hugging Face id "
                        "(default: $HELIUMSQL_MODEL, else the built-in model)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 "
                        "exposes the server to the network)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--api-key", default=os.environ.get("HELIUMSQL_API_KEY") or None,
                   help="require this key as 'Authorization: Bearer KEY' "
                        "(default: $HELIUMSQL_API_KEY, else no key)")
    p.add_argument("--served-model-name", default=None,
                   help="the model name clients pass (default: the checkpoint's directory name)")
    p.add_argument("--device", default="auto",
                   help="torch device for the model: auto (CUDA with bfloat16 when present, else "
                        "CPU with float32), cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level (default: info)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, load the model and serve until interrupted; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        import uvicorn

        from heliumsql.server.app import create_app
    except ImportError as exc:
        print(f"Error: heliumsql serve needs the server extra ({exc.name} is missing): "
              "pip install 'heliumsql[server]'", file=sys.stderr)
        return 1
    from heliumsql.engine import Engine
    from heliumsql.errors import HeliumError
    from heliumsql.models import require_model

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        model = require_model(args.model, "heliumsql serve --model")
        engine = Engine(model, device=args.device)
    except HeliumError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    name = args.served_model_name or _default_name(model)
    app = create_app(engine, name, api_key=args.api_key)
    print(f"heliumsql serve: model {name!r} at http://{args.host}:{args.port}/v1 on "
          f"{engine.placement.describe()}" + (" (API key required)" if args.api_key else ""),
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _default_name(model: object) -> str:
    """The directory name of a local checkpoint, or the Hugging Face id as given."""
    path = Path(str(model))
    return path.name if path.is_dir() else str(model)
