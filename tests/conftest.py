"""Suite-wide fixtures and hooks: tests marked `gpu` skip, with the reason, where no CUDA device
exists; `one_thread` pins torch to one thread for CPU timing tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """Two oversubscribed torch threads on a shared 2-core machine are 10x slower than one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none visible to torch)")
    for item in gpu_items:
        item.add_marker(skip)
