"""Errors the CLI turns into one clear line each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, and where.

    Attributes:
        source: the file, or ``--set`` for a command-line override.
        line: 1-based line, or 0 when the problem has no position.
        col: 1-based column, or 0.
        path: dotted key path such as ``ladder.2.pool``; empty for the whole document.
        message: what was expected and what was found.
    """

    source: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if not self.line else f"{self.source}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario that cannot be loaded; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        """Keep the problems in document order: by file, line and column, then those without a position."""
        self.problems = sorted(problems, key=lambda p: (p.line == 0, p.source if p.line else "", p.line, p.col))
        super().__init__("\n".join(str(p) for p in problems))


class TasksFailed(Exception):
    """Every task of an experiment failed: nothing to summarise. The message quotes the first error."""


@contextmanager
def interrupts_unwrapped() -> Iterator[None]:
    """Re-raise as KeyboardInterrupt an error an interrupt caused inside compiled code.

    Python callbacks run by compiled code hand an interrupt back wrapped: numba's kernels as a
    SystemError, pydantic's serializers as a serialization error.
    """
    try:
        yield
    except Exception as exc:
        if caused_by_interrupt(exc):
            raise KeyboardInterrupt from exc
        raise


def caused_by_interrupt(exc: BaseException) -> bool:
    """True if ``exc`` was caused, at any depth, by a KeyboardInterrupt."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


class SchedulerUnreachable(Exception):
    """The Dask scheduler given with --scheduler did not answer; the message is one line."""
