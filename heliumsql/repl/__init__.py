"""The ``heliumsql`` SQL shell (entry point: :func:`heliumsql.repl.cli.main`)."""
