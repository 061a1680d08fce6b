"""The system's feed: where candidates come from, what the viewer ruled out, and who gets what."""
