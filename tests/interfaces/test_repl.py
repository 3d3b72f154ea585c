"""The ``heliumsql`` program, driven as a person would: in a terminal (pexpect), with -c, from a pipe."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import torch

import heliumsql

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>78]")
# A fresh prompt starts a line; prompt_toolkit may put cursor and mode escapes before it.
PROMPT = re.compile(r"\n(?:\x1b\[[0-9;?]*[A-Za-z])*heliumsql>")
CLI = [sys.executable, "-m", "heliumsql.repl.cli"]


def screen(text: str) -> str:
    """What the terminal shows, without colour and cursor escapes."""
    return ANSI.sub("", text).replace("\r", "")


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HELIUMSQL_HISTORY": str(tmp_path / "history"), "TERM": "xterm",
            "COLUMNS": "120", "LINES": "40", "PYTHONUNBUFFERED": "1",
            # pexpect does not answer cursor-position requests; don't make prompt_toolkit wait.
            "PROMPT_TOOLKIT_NO_CPR": "1"}


class Terminal:
    """A pexpect session with helpers that type a line and read what appeared before the prompt."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.child = pexpect.spawn(CLI[0], CLI[1:] + args, env=env, encoding="utf-8",
                                   dimensions=(40, 120), timeout=120)
        self.child.expect(PROMPT)
        self.banner = screen(self.child.before)

    def run(self, line: str) -> str:
        """Type ``line`` and Enter; return the screen text up to the next prompt."""
        self.child.send(line + "\r")
        self.child.expect(PROMPT)
        return screen(self.child.before)

    def close(self) -> int:
        self.child.sendeof()  # Ctrl-D
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus


def run_cli(args: list[str], env: dict[str, str], stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, input=stdin, env=env, capture_output=True, text=True,
                          timeout=300)


def test_interactive_session_multiline_dot_commands_and_errors(model_path, env, tmp_path):
    term = Terminal(["--model", str(model_path)], env)
    assert "HeliumSQL" in term.banner and ".help" in term.banner
    term.run("CREATE TABLE reviews AS SELECT * FROM (VALUES (1, 'great fit', 5), "
             "(2, 'late', 2)) t(id, review, stars);")
    assert "reviews" in term.run(".tables")
    assert "CREATE TABLE reviews(id INTEGER, review VARCHAR, stars INTEGER);" in term.run(".schema reviews")
    # Enter before the ';' continues the statement on a new line.
    term.child.send("SELECT id, stars * 10 AS tens\r")
    term.child.expect_exact("...>")
    out = term.run("FROM reviews ORDER BY id;")
    assert re.search(r"│\s+1 │\s+50 │", out) and re.search(r"│\s+2 │\s+20 │", out)
    assert "2 rows, 2 columns" in out and "Run Time:" in out
    # The model was not needed so far.
    assert "not loaded yet" in term.run(".model")
    # Errors print the message only and the session goes on.
    out = term.run("SELECT nope FROM reviews;")
    assert "Error:" in out and "nope" in out and "Traceback" not in out
    assert "unknown command .frobnicate" in term.run(".frobnicate")
    term.run(".mode csv")
    assert '"id","review"\n1,"great fit"\n2,"late"' in term.run("SELECT id, review FROM reviews ORDER BY id;")
    term.run(".timer off")
    assert "Run Time" not in term.run("SELECT 1;")
    assert term.close() == 0
    assert "SELECT nope FROM reviews;" in (tmp_path / "history").read_text()


def test_interactive_llm_query_matches_connect_and_stats(model_path, env, engine):
    query = ("SELECT id, llm('Is this review positive or negative? Review: {review}', "
             "max_tokens => 4) AS label FROM reviews ORDER BY id")
    setup = ("CREATE TABLE reviews AS SELECT * FROM (VALUES (1, 'great fit'), (2, 'late'), "
             "(3, 'great fit')) t(id, review)")
    con = heliumsql.connect(engine=engine)
    con.sql(setup)
    expected = con.sql(query).fetchall()
    term = Terminal(["--model", str(model_path)], env)
    term.run(setup + ";")
    term.run(".mode json")
    out = term.run(query + ";")
    rows = json.loads(out[out.index("[\n{"):out.rindex("]") + 1])
    assert "Loading weights" not in out  # library progress bars stay out of the result
    assert [(r["id"], r["label"]) for r in rows] == expected
    model = term.run(".model")
    assert "fingerprint" in model
    # No --device: auto, which is the CPU in float32 on a machine without CUDA.
    assert torch.cuda.is_available() or re.search(r"on\s+cpu\s+float32,\s+attention\s+torch", model)
    stats = term.run(".stats")
    assert re.search(r"generated_tokens\s+│\s+[1-9]", stats)
    assert term.close() == 0


def test_ctrl_c_cancels_the_running_query_and_the_session_continues(model_path, env):
    term = Terminal(["--model", str(model_path)], env)
    term.child.send("SELECT count(llm('story ' || i::VARCHAR, max_tokens => 200)) "
                    "FROM range(300) t(i);\r")
    # The live progress line shows LLM work before we interrupt it.
    term.child.expect("tok/s", timeout=120)
    term.child.sendintr()
    term.child.expect(PROMPT, timeout=60)
    assert "Query cancelled" in screen(term.child.before)
    out = term.run("SELECT 40 + 2 AS answer;")
    assert re.search(r"│\s+42 │", out)
    # The engine still answers.
    out = term.run("SELECT length(llm('hi', max_tokens => 2)) >= 0 AS ok;")
    assert "true" in out.lower()
    assert term.close() == 0


def test_c_flag_exit_status_and_parse_error_caret(model_path, env):
    ok = run_cli(["--model", str(model_path), "-c",
                  "CREATE TABLE t AS SELECT 1 AS x; .mode csv\nSELECT x + 1 AS y FROM t"], env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith('"y"\n2')
    bad = run_cli(["--model", str(model_path), "-c",
                   "SELECT 'first' AS a;\nSELECT llm('hi' max_tokens => 2) FROM t; SELECT 'third'"],
                  env)
    assert bad.returncode == 1
    assert "Error" in bad.stderr and "^" in bad.stderr and "Traceback" not in bad.stderr
    assert "first" in bad.stdout and "third" not in bad.stdout  # stops at the first error


def test_statements_from_a_pipe(model_path, env, tmp_path):
    script = tmp_path / "more.sql"
    script.write_text("INSERT INTO t VALUES (5);\n")
    piped = run_cli(["--model", str(model_path), "--mode", "csv"], env,
                    stdin=f"CREATE TABLE t(x INT);\n.read {script}\nSELECT sum(x) AS s\nFROM t;\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip() == '"s"\n5'


def test_output_redirects_results_to_a_file(model_path, env, tmp_path):
    target = tmp_path / "out.md"
    done = run_cli(["--model", str(model_path), "-c",
                    f".mode markdown\n.output {target}\nSELECT 7 AS seven;\n.output\nSELECT 8 AS eight"],
                   env)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "| seven |\n|---|\n| 7 |\n"
    assert "eight" in done.stdout and "seven" not in done.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("heliumsql")
    assert script.exists()
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == f"heliumsql {heliumsql.__version__}"


def test_model_command_switches_models_and_keeps_in_memory_tables(model_path, env, tmp_path):
    from heliumsql.testing import tiny_model

    other = tiny_model(tmp_path / "other", arch="qwen2", seed=1)
    query = "SELECT llm('Say something about {a}', max_tokens => 6) AS o FROM t"
    script = (f"CREATE TABLE t AS SELECT 'tea' AS a;\n.mode json\n{query};\n.model {other}\n"
              f".tables\n{query};\n.model\n")
    done = run_cli(["--model", str(model_path)], env, stdin=script)
    assert done.returncode == 0, done.stderr
    starts = [m.start() for m in re.finditer(r"^\[$", done.stdout, re.M)]
    first, second = (json.JSONDecoder().raw_decode(done.stdout[i:])[0][0]["o"] for i in starts)
    assert first != second  # another model answered after .model, on the same table
    assert "\nt\n" in done.stdout
    assert f"model: {other} — loaded" in done.stdout
    bad = run_cli(["--model", str(model_path), "-c", f".model {tmp_path}"], env)
    assert bad.returncode == 1 and "no config.json" in bad.stderr


@pytest.mark.slow
def test_demo_flag_runs_the_builtin_demo(env):
    pytest.importorskip("heliumsql.demo", reason="the demo (issue 6) is not installed")
    from heliumsql.models import builtin_model_path

    if builtin_model_path() is None:
        pytest.skip("no built-in model")
    done = run_cli(["--demo"], env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stdout.strip()


def test_explain_prints_the_plan_as_indented_text(model_path, env):
    sql = ("CREATE TABLE people AS SELECT 'Ada' AS name; "
           "EXPLAIN SELECT llm('Hi {name}', max_tokens => 2) AS hi FROM people")
    done = run_cli(["--model", str(model_path), "-c", sql], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The plan's own lines, one per line and indented as EXPLAIN writes them (not a table cell).
    assert "Query" in lines and "  Llm #1  llm('Hi {name}', max_tokens => 2)" in lines
    assert "    strategy  batch: all prompts at once, no upstream LLM node" in lines
    assert "↵" not in done.stdout
    duck = run_cli(["-c", "EXPLAIN SELECT 42"], env)  # DuckDB's own plan, as text too
    assert duck.returncode == 0 and "↵" not in duck.stdout and "Projections: 42" in duck.stdout
