"""The allocator tuning: freed tick memory is reused, whichever thread freed it."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Run in a fresh process: the tuning is process-wide and must come before any thread allocates.
PROBE = """
import threading
import numpy as np
import psutil
from tiktok_sim.allocator import keep_freed_memory

keep_freed_memory()

def churn():
    parts = [np.ones(2 << 20) for _ in range(4)]  # 4 x 16 MB, freed when it returns
    del parts

thread = threading.Thread(target=churn)
thread.start()
thread.join()
before = psutil.Process().memory_info().rss
parts = [np.ones(2 << 20) for _ in range(4)]
print((psutil.Process().memory_info().rss - before) / 2**20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_memory_a_thread_freed_is_reused_by_the_main_thread() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    # Reused: no new pages. In an arena of the thread's own, the 64 MB would be faulted in afresh.
    assert float(out) < 16.0, out
