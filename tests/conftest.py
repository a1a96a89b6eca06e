import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# One thread in the tests and in every recipe they run (OMP_NUM_THREADS is inherited): the results, and so the
# calibrated checks, do not depend on the machine's core count, and `make test`'s pytest-xdist workers (one per
# core) do not oversubscribe the cores.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
torch.set_num_threads(1)
# the recipes the tests start keep their activation buffers (interpretability/runtime.py)
from interpretability.runtime import with_allocator_settings  # noqa: E402

os.environ.update(with_allocator_settings(os.environ))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
