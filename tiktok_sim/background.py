"""A call run on another thread: for compiled kernels and array code that release the GIL.

Much of a tick runs on one core: its random draws are one stream, the feed's walk is
sequential, and numpy's array code uses one thread. What needs no draws runs beside it on the
other core: the offer's factors and the ticket tables while the requests are drawn, the
viewers' estimated interests, the viewer figures and slice counts while the reactions are
drawn, and adding the tick's picks to the seen filter. The world's follow graph is built
beside the rest of its population the same way. Only kernels that do not run in parallel
themselves go here: numba's default threading layer cannot run two parallel kernels at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
        """The call's return value, once it has finished; its exception is raised here."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
