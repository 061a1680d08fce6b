"""The system's feed: where candidates come from, what the viewer ruled out, and who gets what."""

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)
