"""The analysts' copy: a read-only copy of the warehouse that `featurecast sql` and DuckDB clients read.

DuckDB lets one process write a database file, and a reader in another process blocks that writer.
So analysts never open the warehouse itself: every command that writes it (and the nightly flow, at its
end) publishes a byte copy to `$FEATURECAST_DATA_DIR/analyst/warehouse.duckdb` while it still holds the
writer lock. The copy is written beside the old one, fsynced, and renamed over it: a client that has the
old copy open keeps reading it, and the next connection sees the new one. Nothing ever waits on an analyst.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from featurecast.durable import remove_leftovers, replace_durably
from featurecast.storage import StorageFault, storage_fault


def publish_analyst_copy(warehouse: Path, destination: Path) -> Path:
    """Copy `warehouse` to `destination` atomically. Call it while holding the writer lock."""
    wal = warehouse.with_name(warehouse.name + ".wal")
    if wal.exists():  # fold a pending write-ahead log into the file first, so the copy is complete
        con = duckdb.connect(str(warehouse))
        try:
            con.execute("checkpoint")
        finally:
            con.close()
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(destination.parent)
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        shutil.copyfile(warehouse, partial)
        replace_durably(partial, destination)
    except OSError as exc:  # a full disk: the previous copy stays served, nothing half-copied is left
        partial.unlink(missing_ok=True)
        fault = storage_fault(exc, destination)
        if fault is None:
            raise
        raise StorageFault(
            f"the warehouse was written, but its analysts' copy could not be refreshed: {fault}; analysts still "
            "read the previous copy"
        ) from None
    return destination


def withdraw_analyst_copy(copy: Path) -> None:
    """Remove a published copy (FEATURECAST_ANALYST_COPY=off): readers then open the warehouse itself.
    A client that has it open keeps reading the file it opened."""
    copy.unlink(missing_ok=True)
    if copy.parent.exists():
        remove_leftovers(copy.parent)


def published_at(copy: Path) -> datetime | None:
    """When the analysts' copy was last published (its modification time), or None if it is absent."""
    try:
        return datetime.fromtimestamp(copy.stat().st_mtime, tz=UTC)
    except FileNotFoundError:
        return None
