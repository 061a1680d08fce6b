"""Settings every compiled kernel shares: import this module before defining one.

numba's on-disk cache checks only the source file of each kernel, not the kernels it
calls or inlines. After an edit to ``seen.py``, ``fill.py``'s cached code would keep the
old hashing and the seen filter would silently stop matching. So the cache lives in a
folder named by a hash of the package's sources: any change compiles afresh.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

PACKAGE = Path(__file__).parent


def sources_hash() -> str:
    """A hash of the package's source files: which code this is, to the byte."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_base = Path(os.environ.get("NUMBA_CACHE_DIR") or PACKAGE / "__pycache__" / "numba")
numba.config.CACHE_DIR = str(_base / sources_hash())  # type: ignore[attr-defined]

# The kernels share a tick's work between cores. The experiment runner forks worker
# processes, which GNU OpenMP (numba's first choice where it is installed) does not survive.
numba.config.THREADING_LAYER = "forksafe"  # type: ignore[attr-defined]
