"""The system's feed: where candidates come from, what the viewer ruled out, and who gets what."""

import numba

# The compiled kernels share a tick's work between cores. The experiment runner forks worker
# processes, which GNU OpenMP (numba's first choice where it is installed) does not survive.
numba.config.THREADING_LAYER = "forksafe"  # type: ignore[attr-defined]
