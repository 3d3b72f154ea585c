"""``heliumsql serve``: HeliumSQL's local engine behind an OpenAI-compatible HTTP API.

Every request of every client joins the one engine, so HTTP clients share its continuous
batches and its prefix cache. Needs the ``server`` extra (``pip install 'heliumsql[server]'``);
``import heliumsql`` never imports this package.

>>> from heliumsql.server.app import create_app                       # doctest: +SKIP
>>> app = create_app(Engine("path/to/checkpoint"), served_model_name="my-model")  # doctest: +SKIP
"""
