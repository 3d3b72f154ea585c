"""The ``heliumsql`` command: ``heliumsql [DATABASE] [--model M] [-c SQL] [--demo]``, and
``heliumsql serve ...`` (see :mod:`heliumsql.server.cli`).

>>> main(["-c", "SELECT 42 AS answer"])                                  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from heliumsql.repl.render import MODES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="heliumsql",
        description="SQL shell in which LLM calls (llm, llm_filter, llm_agg, llm_map) are query "
                    "operators over DuckDB.",
        epilog="Without -c, statements come from the terminal (interactive) or from stdin "
               "(echo 'SELECT 1' | heliumsql).")
    p.add_argument("database", nargs="?", default=":memory:",
                   help="DuckDB database file (default: in-memory)")
    p.add_argument("-m", "--model", default=os.environ.get("HELIUMSQL_MODEL") or None,
                   help="model checkpoint directory or cached Hugging Face id "
                        "(default: $HELIUMSQL_MODEL, else the built-in model)")
    p.add_argument("--base-url", default=None,
                   help="with --model openai:NAME, the OpenAI-compatible server's URL "
                        "(default: $OPENAI_BASE_URL)")
    p.add_argument("--api-key", default=None,
                   help="with --model openai:NAME, the server's API key (default: $OPENAI_API_KEY)")
    p.add_argument("--cluster", default=None, metavar="ray|ray://HOST:PORT",
                   help="run the model as engine replicas on Ray: 'ray' (a local Ray instance "
                        "or $RAY_ADDRESS) or ray://HOST:PORT (needs heliumsql[ray])")
    p.add_argument("--replicas", type=int, default=None,
                   help="with --cluster, the number of engine replicas (default: 2)")
    p.add_argument("-c", "--command", metavar="SQL",
                   help="run these statements (and dot commands) and exit: status 0, or 1 on error")
    p.add_argument("--demo", action="store_true", help="run the built-in demo and exit")
    p.add_argument("--device", default="auto",
                   help="torch device for the model: auto (CUDA with bfloat16 when present, else "
                        "CPU with float32), cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--mode", choices=MODES, default="table", help="result format (as .mode)")
    p.add_argument("--timer", action=argparse.BooleanOptionalAction, default=None,
                   help="print run times (default: on when interactive)")
    p.add_argument("--version", action="version", version=f"heliumsql {_version()}")
    return p


def _version() -> str:
    from heliumsql import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the status."""
    rest = list(sys.argv[1:] if argv is None else argv)
    if rest[:1] == ["serve"]:  # `heliumsql serve ...`: the OpenAI-compatible server
        from heliumsql.server.cli import main as serve

        status = serve(rest[1:])
        if argv is None:
            sys.exit(status)
        return status
    args = parser().parse_args(argv)
    # The REPL draws its own progress; Hugging Face's download/loading bars would garble it.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        status = _run(args)
    except BrokenPipeError:
        # `heliumsql -c ... | head`: the reader left; quietly stop writing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    if argv is None:
        sys.exit(status)
    return status


def _run(args: argparse.Namespace) -> int:
    if args.demo:
        try:
            from heliumsql.demo import run_demo
        except ImportError as exc:
            print(f"Error: the demo is not available in this installation ({exc})", file=sys.stderr)
            return 1
        run_demo()
        return 0
    from heliumsql.repl.session import Session

    interactive = args.command is None and sys.stdin.isatty()
    given = (("base_url", args.base_url), ("api_key", args.api_key), ("cluster", args.cluster),
             ("replicas", args.replicas))
    session = Session(args.database, args.model, device=args.device, interactive=interactive,
                      options={k: v for k, v in given if v is not None})
    session.mode = args.mode
    if args.timer is not None:
        session.timer = args.timer
    if interactive:
        from heliumsql.repl.interactive import run_interactive

        return run_interactive(session)
    text = args.command if args.command is not None else sys.stdin.read()
    try:
        ok = session.run_text(text, stop_on_error=True)
    finally:
        session.close()
    return 0 if ok else 1


if __name__ == "__main__":
    main()
