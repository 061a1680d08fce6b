"""The terminal report: pure functions returning Rich renderables (only the CLI prints)."""

from tiktok_sim.report.terminal import render_report

__all__ = ["render_report"]
