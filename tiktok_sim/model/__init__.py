"""Pure kernels: the world's reactions, the system's ranking, the ladder's gates."""
