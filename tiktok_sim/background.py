"""A call run on another thread: for compiled kernels and array code that release the GIL.

Much of a tick runs on one core: its random draws are one stream, the feed's walk is
sequential, and numpy's array code uses one thread. What needs no draws runs beside it on the
other core: the offer's factors and the ticket tables while the requests are drawn, the
viewers' estimated interests, the viewer figures and slice counts while the reactions are
drawn, and adding the tick's picks to the seen filter. The world's follow graph is built
beside the rest of its population the same way. Only kernels that do not run in parallel
themselves go here: numba's default threading layer cannot run two parallel kernels at once.
:class:`InTurn` shares a sequence of such calls between the caller and a helper: the feed's
ranking, span by span, ahead of the walk that serves each span.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numba


class Background:
    """``function(*args)`` running on its own thread; :meth:`result` waits for it."""

    def __init__(self, function: Callable[..., Any], *args: Any, at_once: bool = False) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if at_once:
            self._run(function, args)
        else:
            self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
            self._thread.start()

    @classmethod
    def beside(cls, function: Callable[..., Any], *args: Any) -> Background:
        """``function(*args)`` on its own thread where the process may use more than one core.

        Where it may use one (``NUMBA_NUM_THREADS=1``, or a worker of the experiment runner
        given one core), the call runs at once: a second thread would only take time from
        another worker. ``function`` must not wait for its caller.
        """
        return cls(function, *args, at_once=numba.get_num_threads() == 1)

    def _run(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._value = function(*args)
        except BaseException as error:  # handed to the caller of result()
            self._error = error

    def result(self) -> Any:
        """The call's return value, once it has finished; its exception is raised here.

        The value is handed over, not kept: a tick's arrays die as soon as their user is done
        with them, not when the tick ends. Ask once.
        """
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        value, self._value = self._value, None
        return value


class InTurn:
    """``function(0)``, ``function(1)``, ... ``function(count - 1)``, handed out in turn.

    Two threads compute them: a helper, and the caller itself whenever the next result is not
    ready yet, so both cores work while the caller uses each result as soon as it comes.
    ``function`` must release the GIL (a compiled ``nogil`` kernel) for the threads to overlap,
    and its calls must not depend on each other. Where the process may use one core, the
    caller computes each result when it needs it.
    """

    def __init__(self, function: Callable[[int], Any], count: int) -> None:
        self._function = function
        self._count = count
        self._results: list[Any] = [None] * count
        self._done = [threading.Event() for _ in range(count)]
        self._claims = itertools.count()  # next() on it is atomic under the GIL
        self._error: BaseException | None = None
        self._helper: threading.Thread | None = None
        if count > 1 and numba.get_num_threads() > 1:
            self._helper = threading.Thread(target=self._work, daemon=True)
            self._helper.start()

    def _compute_next(self) -> bool:
        """Compute the first result nobody has claimed; False when none is left."""
        i = next(self._claims)
        if i >= self._count:
            return False
        try:
            if self._error is not None:  # once one call failed, the later ones are not made
                raise self._error
            self._results[i] = self._function(i)
        except BaseException as error:  # raised to the caller at its turn
            self._error = self._error or error
            self._results[i] = _Failed(error)
        finally:
            self._done[i].set()
        return True

    def _work(self) -> None:
        while self._compute_next():
            pass

    def __iter__(self) -> Iterator[Any]:
        try:
            for i in range(self._count):
                while not self._done[i].is_set() and self._compute_next():
                    pass
                self._done[i].wait()
                result, self._results[i] = self._results[i], None
                if isinstance(result, _Failed):
                    raise result.error
                yield result
        finally:
            self._error = self._error or _Stopped()  # a caller that stopped early stops the helper
            if self._helper is not None:
                self._helper.join()


@dataclasses.dataclass(frozen=True)
class _Failed:
    """A call that raised ``error``."""

    error: BaseException


class _Stopped(Exception):
    """The caller stopped taking results."""
