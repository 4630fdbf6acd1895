"""One project-wide lock that every writer of the warehouse takes, so writers take turns.

DuckDB lets one process open a database file for writing, and a reader in another process blocks it.
Without a lock of our own, two commands race: the loser dies on DuckDB's `IOException` after the winner
has already written part of its work. `warehouse_lock` is an advisory `flock` on `<warehouse>.lock`
beside the warehouse file:

- a writer waits up to `FEATURECAST_LOCK_TIMEOUT_SECONDS` for the lock, then raises `WarehouseBusyError`
  naming who holds it (command, process id, host) and since when;
- the holder is written into the lock file, so a waiting command can say who it waits for;
- the lock is reentrant within one process (the nightly flow trains models inside itself);
- the operating system drops the lock when the holder dies, so a crash never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class WarehouseBusyError(RuntimeError):
    """Another command held the warehouse for longer than the lock timeout."""


@dataclass(frozen=True)
class LockHolder:
    command: str
    pid: int
    host: str
    since: str

    def describe(self) -> str:
        return f"`{self.command}` (pid {self.pid} on {self.host}) since {self.since}"


# Explicit per-process cache of the locks this process holds: path -> (open file, depth).
_HELD: dict[Path, tuple[object, int]] = {}
_HELD_GUARD = threading.Lock()
_POLL_SECONDS = 0.2


def lock_path(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + ".lock")


def current_holder(warehouse: Path) -> LockHolder | None:
    """Who holds (or last held) the lock, as written in the lock file; None if nobody ever did."""
    try:
        record = json.loads(lock_path(warehouse).read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    try:
        return LockHolder(str(record["command"]), int(record["pid"]), str(record["host"]), str(record["since"]))
    except (KeyError, TypeError, ValueError):
        return None


def _command_line() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return " ".join([name, *sys.argv[1:3]])[:80]


@contextmanager
def warehouse_lock(
    warehouse: Path,
    *,
    timeout: float,
    command: str | None = None,
    on_wait: Callable[[LockHolder | None], None] | None = None,
) -> Iterator[None]:
    """Hold the project-wide writer lock of `warehouse` for the duration of the block."""
    path = lock_path(Path(warehouse).resolve())
    with _HELD_GUARD:
        held = _HELD.get(path)
        if held is not None:
            _HELD[path] = (held[0], held[1] + 1)
    if held is not None:
        try:
            yield
        finally:
            with _HELD_GUARD:
                handle, depth = _HELD[path]
                _HELD[path] = (handle, depth - 1)
        return

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - closed in the finally below; its lifetime is the lock's
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        waited = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = current_holder(warehouse)
                if time.monotonic() >= deadline:
                    who = holder.describe() if holder else "another process"
                    raise WarehouseBusyError(
                        f"the warehouse {warehouse} is busy: {who} holds it; waited {timeout:.0f} s "
                        "(FEATURECAST_LOCK_TIMEOUT_SECONDS); try again when it has finished"
                    ) from None
                if not waited and on_wait is not None:
                    on_wait(holder)
                waited = True
                time.sleep(_POLL_SECONDS)
        record = {
            "command": command or _command_line(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(record))
        handle.flush()
        with _HELD_GUARD:
            _HELD[path] = (handle, 1)
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD.pop(path, None)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def holds_lock(warehouse: Path) -> bool:
    """Whether this process already holds the writer lock of `warehouse`."""
    with _HELD_GUARD:
        return lock_path(Path(warehouse).resolve()) in _HELD
