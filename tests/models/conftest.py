"""Run this directory's model work on one CPU thread: the built-in model is tiny, and on a shared
CPU several threads spin-waiting on each other make each step many times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
