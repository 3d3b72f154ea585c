"""HeliumSQL benchmarks: suites of workloads and baselines, run by ``python benchmarks/run.py``."""
