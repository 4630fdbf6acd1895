"""`exclusive_writer`: how every command and flow that writes the warehouse does it.

It holds the project-wide writer lock (`featurecast.warehouse_lock`) for the whole command, so writers
take turns and none half-lands because another started first, and, when the outermost writer finishes
without error, publishes the analysts' copy (`featurecast.analyst_copy`) before letting go. With
FEATURECAST_ANALYST_COPY=off (a universe whose warehouse the disk cannot hold twice, a deployment where
nobody queries DuckDB) it publishes nothing and withdraws an earlier copy, so no reader is left on old
data: `featurecast sql` and `get_historical_features` then read the warehouse itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from featurecast.analyst_copy import publish_analyst_copy, withdraw_analyst_copy
from featurecast.config import Settings
from featurecast.warehouse_lock import LockHolder, holds_lock, warehouse_lock


def _say_waiting(holder: LockHolder | None) -> None:
    who = holder.describe() if holder else "another command"
    print(f"featurecast: waiting for the warehouse: {who} is writing it", file=sys.stderr, flush=True)


@contextmanager
def exclusive_writer(
    settings: Settings, command: str, *, changed: Callable[[], bool] | None = None
) -> Iterator[None]:
    """Write the warehouse alone; on success, refresh the analysts' copy (outermost writer only). A writer
    that knows whether it wrote anything passes `changed`: when it says no, the copy (already the
    warehouse's state) is left as it is, so a night with nothing new costs no copy."""
    outermost = not holds_lock(settings.warehouse_path)
    with warehouse_lock(
        settings.warehouse_path, timeout=settings.lock_timeout_seconds, command=command, on_wait=_say_waiting
    ):
        yield
        if outermost and settings.warehouse_path.exists():
            if not settings.analyst_copy:
                withdraw_analyst_copy(settings.analyst_copy_path)
            elif changed is None or changed() or not settings.analyst_copy_path.exists():
                publish_analyst_copy(settings.warehouse_path, settings.analyst_copy_path)
