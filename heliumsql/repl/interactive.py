"""The interactive prompt: prompt_toolkit with multi-line SQL, history, highlighting, completion."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import PygmentsLexer
from pygments.lexers.sql import SqlLexer

from heliumsql.repl.commands import COMMANDS
from heliumsql.repl.completer import Catalog, SqlCompleter
from heliumsql.repl.session import Session
from heliumsql.repl.statements import is_complete

PROMPT = "heliumsql> "
CONTINUATION = "      ...> "


def history_path() -> Path:
    """Where the history lives: ``$HELIUMSQL_HISTORY``, else the user's data directory."""
    override = os.environ.get("HELIUMSQL_HISTORY")
    if override:
        return Path(override).expanduser()
    try:
        from platformdirs import user_data_dir

        base = Path(user_data_dir("heliumsql", appauthor=False))
    except ImportError:  # platformdirs ships with most Python installs, but is not required
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "heliumsql"
    return base / "history"


def _history() -> History:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()  # a read-only home must not stop the REPL
    return FileHistory(str(path))


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        # Enter runs the buffer once it holds complete statements (or a dot command), else it
        # opens a new line: multi-line SQL without a special key.
        if buffer.complete_state is not None and buffer.complete_state.current_completion:
            buffer.apply_completion(buffer.complete_state.current_completion)
        elif is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings


def banner(session: Session) -> str:
    from heliumsql import __version__

    model = session.model or "built-in model"
    return (f"HeliumSQL {__version__} · database {session.database} · model {model} "
            "(loads on the first LLM call)\nEnter .help for help; statements end with ';'.")


def run_interactive(session: Session) -> int:
    """Read, run and print until ``.quit`` or Ctrl-D; returns the exit status."""
    catalog = [Catalog(dot_commands=tuple(COMMANDS))]

    def refresh() -> None:
        try:
            catalog[0] = Catalog.load(session.duckdb, COMMANDS)
        except Exception:  # noqa: BLE001 - completion is a nicety; a failing catalog read is not fatal
            pass

    prompt: PromptSession[str] = PromptSession(
        PROMPT, multiline=True, prompt_continuation=CONTINUATION, history=_history(),
        lexer=PygmentsLexer(SqlLexer), completer=SqlCompleter(lambda: catalog[0]),
        complete_while_typing=True, auto_suggest=AutoSuggestFromHistory(),
        key_bindings=_key_bindings(), enable_history_search=True)
    session.info(banner(session))
    failed: list[BaseException] = []

    def open_database() -> None:
        try:
            session.con  # noqa: B018 - the imports take a moment; the model still loads lazily
            refresh()
        except Exception as exc:  # noqa: BLE001 - reported before the first statement runs
            failed.append(exc)

    # Open in the background so the prompt is there at once; the first statement waits for it.
    opener = threading.Thread(target=open_database, daemon=True)
    opener.start()
    while not session.quit_requested:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line, as in psql and duckdb
        except EOFError:
            break
        opener.join()
        if failed:
            session.error(failed[0])
            return 1
        session.run_text(text, stop_on_error=False)
        refresh()
    opener.join()
    session.close()
    return 0
