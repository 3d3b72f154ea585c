"""The workflow benchmark: agentic workflows written in HeliumSQL, run by four systems.

``python benchmarks/run.py --suite workflows [--quick] [--json FILE]`` (see :mod:`.suite`).
One module per workload (``multi_agent``, ``map_reduce``, ``exploration``, ``debate``,
``records``: seeded data, the SQL, and the same workflow written agent-framework style), the
benchmark model (:mod:`.model`), the engines and systems compared (:mod:`.engines`,
:mod:`.systems`), and the suite's results and targets (:mod:`.results`).
"""
