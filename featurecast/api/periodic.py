"""`PeriodicRefresh`: how the app follows what the pipeline publishes without a request ever waiting on it.

The serving snapshot (`SnapshotStore`) and the regime view (`RegimeService`) both hold a value in memory
and re-check its source at most every `interval` seconds, from the requests that read it. Before the
first value exists every caller waits for the one refresh in progress; after that one caller refreshes
(inline, or in a background thread) while the others go on with the value they have.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class PeriodicRefresh:
    def __init__(
        self, refresh: Callable[[], None], ready: Callable[[], bool], interval: float, *, background: bool = False
    ) -> None:
        self.refresh = refresh  # brings the holder's value up to date (must not raise on a bad source)
        self.ready = ready  # whether the holder has a value to serve yet
        self.interval = interval
        self.background = background
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def _due(self) -> bool:
        return not self.ready() or time.monotonic() - self._checked_at >= self.interval

    def poll(self) -> None:
        """Refresh if due; returns at once when another caller is refreshing and a value exists."""
        waiting = not self.ready()
        if self._due() and self._lock.acquire(blocking=waiting):
            if self.background and not waiting:
                threading.Thread(target=self._run, daemon=True, name="periodic-refresh").start()
            else:
                self._run()

    def _run(self) -> None:
        try:
            if self._due():
                self._checked_at = time.monotonic()
                self.refresh()
        finally:
            self._lock.release()
