"""``python -m tiktok_sim``."""

from tiktok_sim.cli import main

main()
