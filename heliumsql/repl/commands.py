"""Dot commands (``.tables``, ``.mode csv`` ...), one small function each.

Every command reads DuckDB's catalog or changes a :class:`~heliumsql.repl.session.Session`
setting; none of them needs the model, so they answer at once even before it is loaded.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from heliumsql.engine.interface import runs_on
from heliumsql.repl.render import MODES
from heliumsql.repl.session import Session


@dataclass(frozen=True)
class DotCommand:
    """A dot command: its handler, argument synopsis and one-line help."""

    run: Callable[[Session, list[str]], bool]
    args: str
    help: str


def _on_off(session: Session, args: list[str], name: str, attr: str) -> bool:
    if len(args) != 1 or args[0].lower() not in ("on", "off"):
        session.error(f"usage: .{name} on|off (now {'on' if getattr(session, attr) else 'off'})")
        return False
    setattr(session, attr, args[0].lower() == "on")
    return True


def cmd_help(session: Session, args: list[str]) -> bool:
    table = Table(show_header=False, box=None, pad_edge=False)
    for name, command in COMMANDS.items():
        table.add_row(f".{name} {command.args}".rstrip(), command.help)
    session.stdout_console.print(table)
    session.info("SQL statements end with ';'. LLM functions: llm, llm_filter, llm_agg, llm_map. "
                 "Ctrl-C cancels a running query, Ctrl-D exits.")
    return True


def cmd_tables(session: Session, args: list[str]) -> bool:
    pattern = args[0] if args else "%"
    rows = session.duckdb.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') AND table_name LIKE ? "
        "ORDER BY table_name", [pattern]).fetchall()
    if rows:
        session.info("  ".join(name for (name,) in rows))
    return True


def cmd_schema(session: Session, args: list[str]) -> bool:
    name = args[0] if args else None
    rows = session.duckdb.execute(
        "SELECT sql FROM (SELECT table_name AS name, sql FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT view_name, sql FROM duckdb_views() WHERE NOT internal) "
        "WHERE ?::VARCHAR IS NULL OR name = ? ORDER BY name", [name, name]).fetchall()
    if name is not None and not rows:
        session.error(f"no table or view named {name!r}; .tables lists them")
        return False
    for (sql,) in rows:
        session.console.print(sql.rstrip().rstrip(";") + ";", highlight=False, markup=False)
    return True


def cmd_model(session: Session, args: list[str]) -> bool:
    if args:
        path = Path(args[0]).expanduser()
        if path.exists() and not (path / "config.json").is_file():
            session.error(f"{args[0]!r} is not a model checkpoint directory (no config.json)")
            return False
        # Anything else may be a cached Hugging Face id: the next LLM call loads it or says why.
        session.switch_model(args[0])
        session.info(f"model: {args[0]} (loads on the next LLM call)")
        return True
    engine = session.engine_if_loaded()
    where = session.model or "built-in model"
    state = (f"loaded (fingerprint {getattr(engine, 'fingerprint', '?')})" if engine is not None
             else "not loaded yet (loads on the first LLM call)")
    where_runs = runs_on(engine)
    if where_runs:
        state += f", on {where_runs}"
    session.info(f"model: {where} — {state}")
    return True


def cmd_explain(session: Session, args: list[str]) -> bool:
    return _on_off(session, args, "explain", "explain")


def cmd_timer(session: Session, args: list[str]) -> bool:
    return _on_off(session, args, "timer", "timer")


def cmd_stats(session: Session, args: list[str]) -> bool:
    engine = session.engine_if_loaded()
    if engine is None:
        session.info("no LLM work yet: the model loads on the first LLM call")
        return True
    table = Table("figure", "value", title="engine")
    for name, value in engine.stats().items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    session.stdout_console.print(table)
    cache_stats = getattr(session.con, "cache_stats", None)
    if callable(cache_stats):
        table = Table("figure", "value", title="result cache")
        for name, value in cache_stats().items():
            table.add_row(name, str(value))
        session.stdout_console.print(table)
    return True


def cmd_mode(session: Session, args: list[str]) -> bool:
    if len(args) != 1 or args[0] not in MODES:
        session.error(f"usage: .mode {'|'.join(MODES)} (now {session.mode})")
        return False
    session.mode = args[0]
    return True


def cmd_read(session: Session, args: list[str]) -> bool:
    if len(args) != 1:
        session.error("usage: .read FILE")
        return False
    path = Path(args[0]).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        session.error(f"cannot read {str(path)!r}: {exc.strerror}")
        return False
    return session.run_text(text)


def cmd_output(session: Session, args: list[str]) -> bool:
    if len(args) > 1:
        session.error("usage: .output [FILE] (no FILE: back to the terminal)")
        return False
    try:
        session.set_output(args[0] if args else None)
    except OSError as exc:
        session.error(f"cannot write {args[0]!r}: {exc.strerror}")
        return False
    return True


def cmd_quit(session: Session, args: list[str]) -> bool:
    session.quit_requested = True
    return True


COMMANDS: dict[str, DotCommand] = {
    "help": DotCommand(cmd_help, "", "show this help"),
    "tables": DotCommand(cmd_tables, "[PATTERN]", "list tables and views (LIKE pattern)"),
    "schema": DotCommand(cmd_schema, "[TABLE]", "show CREATE statements"),
    "model": DotCommand(cmd_model, "[PATH]", "show the model, or switch to another checkpoint"),
    "explain": DotCommand(cmd_explain, "on|off", "print each query's plan (and its figures)"),
    "stats": DotCommand(cmd_stats, "", "engine and cache figures"),
    "timer": DotCommand(cmd_timer, "on|off", "print the run time of each statement"),
    "mode": DotCommand(cmd_mode, "|".join(MODES), "how results are printed"),
    "read": DotCommand(cmd_read, "FILE", "run the statements in FILE"),
    "output": DotCommand(cmd_output, "[FILE]", "write results to FILE (no FILE: the terminal)"),
    "quit": DotCommand(cmd_quit, "", "exit (Ctrl-D does the same)"),
    "exit": DotCommand(cmd_quit, "", "exit"),
}


def run_dot_command(session: Session, line: str) -> bool:
    """Run one ``.command args`` line; ``False`` (after printing why) if it failed.

    >>> run_dot_command(Session(), ".mode csv")                          # doctest: +SKIP
    True
    """
    try:
        words = shlex.split(line[1:])
    except ValueError as exc:
        session.error(f"cannot parse {line!r}: {exc}")
        return False
    if not words:
        session.error("empty dot command; .help lists them")
        return False
    command = COMMANDS.get(words[0].lower())
    if command is None:
        session.error(f"unknown command .{words[0]}; .help lists the commands")
        return False
    try:
        return command.run(session, words[1:])
    except Exception as exc:  # noqa: BLE001 - a failing dot command must not end the session
        session.error(exc)
        return False
