"""A call run on another thread: for compiled kernels and array code that release the GIL.

Adding a tick's picks to the seen filter is sequential; run beside the rest of the tick,
it uses the second core that the tick's array code leaves idle. The world's follow graph is
built beside the rest of its population the same way. Only kernels that do not run in
parallel themselves go here: numba's default threading layer cannot run two parallel
kernels at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """``function(*args)`` running on its own thread; :meth:`result` waits for it."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self._thread.start()

    def _run(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._value = function(*args)
        except BaseException as error:  # handed to the caller of result()
            self._error = error

    def result(self) -> Any:
        """The call's return value, once it has finished; its exception is raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
