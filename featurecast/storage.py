"""Storage faults named for what they are: a damaged or foreign warehouse file, a path of the wrong kind,
a full disk, a read-only directory. None of them is "busy", and retrying does not mend any of them, so
the CLI reports each as one line with exit 6 (a scheduler should not retry it), never as 70.

`check_warehouse` is the preflight every command that touches the warehouse runs before it starts work
(and before dbt starts, whose own report of such a fault is a stack trace): it opens the file read-only,
which also finds an outside DuckDB client holding it (`WarehouseHeldError`, exit 5). `storage_fault`
recognises the same faults in an exception raised later, from DuckDB, dbt or the operating system.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import duckdb

# DuckDB's words for a file it cannot use; checked on the lower-cased message.
_DAMAGED = ("corrupt database file", "could not read enough bytes", "checksum", "failed to read database header")
_FOREIGN = (
    "not a valid duckdb database file",
    "is not a duckdb database",
    "created with an older version",
    "created with a newer version",
    "serialization error",
)
_HELD = "could not set lock on file"
_NO_SPACE = ("no space left on device", "disk is full", "not enough space")
_READ_ONLY = ("read-only file system", "permission denied", "cannot open file with write access")


class StorageFault(Exception):
    """The warehouse or the data directory cannot be used as it is; the message says why and what to do."""


class WarehouseHeldError(Exception):
    """A process outside featurecast (a DuckDB client) has the warehouse file open."""


def held_message(path: Path | None = None) -> str:
    """The busy line for a warehouse a process outside featurecast has open (named when known)."""
    which = f"the warehouse {path}" if path else "the warehouse file"
    return (
        f"{which} is open in another process (a DuckDB client or a command started outside featurecast); "
        "close it or wait, then try again. Analysts read the copy `featurecast sql` uses."
    )


def is_held(exc: BaseException) -> bool:
    """DuckDB's error for a file another process has open."""
    return isinstance(exc, duckdb.IOException) and _HELD in str(exc).lower()


def storage_fault(exc: BaseException | str, path: Path | None = None) -> StorageFault | None:
    """The StorageFault `exc` (an exception, or the text of one) amounts to, or None if it is no such fault."""
    text = str(exc)
    lowered = text.lower()
    where = f" {path}" if path is not None else ""
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or any(words in lowered for words in _NO_SPACE):
        return StorageFault(
            "the disk is full (no space left on device): nothing half-written was kept; free space on the data "
            "directory's disk, then run the command again"
        )
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(words in lowered for words in _READ_ONLY):
        name = getattr(exc, "filename", None) or path or "the data directory"
        return StorageFault(
            f"cannot write {name}: the directory is read-only or not ours to write; point FEATURECAST_DATA_DIR "
            "at a writable directory"
        )
    if code in (errno.EISDIR, errno.ENOTDIR) or "is a directory" in lowered:
        return StorageFault(
            f"the warehouse path{where} is a directory, not a file: set FEATURECAST_WAREHOUSE to a file path"
        )
    if any(words in lowered for words in _DAMAGED):
        return StorageFault(
            f"the warehouse file{where} is damaged (truncated or corrupt: {_first(text)}); restore it from a "
            "backup, or move it aside and run `featurecast run` to build a new one"
        )
    if any(words in lowered for words in _FOREIGN):
        return StorageFault(
            f"the warehouse file{where} is not a DuckDB database this version can read ({_first(text)}); move it "
            "aside and run `featurecast run` to build a new one, or point FEATURECAST_WAREHOUSE elsewhere"
        )
    return None


def _first(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    line = re.sub(r'(?:from |)file "[^"]*"', "the file", line)  # the path is named once, outside
    for prefix in ("Runtime Error ", "IO Error: ", "Serialization Error: "):
        line = line.removeprefix(prefix)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_warehouse(path: Path, *, writes: bool) -> None:
    """Raise StorageFault or WarehouseHeldError if the warehouse at `path` cannot be used; a missing file is
    fine (a writer creates it). A writer also needs a writable directory."""
    if path.is_dir():
        raise StorageFault(f"the warehouse path {path} is a directory, not a file: set FEATURECAST_WAREHOUSE to a file")
    if writes:
        directory = path.parent if path.parent.exists() else path.parent.parent
        if directory.exists() and not os.access(directory, os.W_OK):
            raise StorageFault(
                f"cannot write {directory}: the directory is read-only; point FEATURECAST_DATA_DIR at a writable one"
            )
    if not path.exists():
        return
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        if is_held(exc):
            raise WarehouseHeldError(held_message(path)) from None
        fault = storage_fault(exc, path)
        if fault is not None:
            raise fault from None
        raise
    try:
        size_row = con.execute("pragma database_size").fetchone() or (None, None, 0, 0, 0)
        block_size, _, used_blocks = size_row[2:5]
    except duckdb.Error as exc:
        fault = storage_fault(exc, path)
        if fault is not None:
            raise fault from None
        raise
    finally:
        con.close()
    # each block in use has its own slot in the file (free blocks at its end may have been cut off)
    expected = int(block_size) * int(used_blocks)
    if path.stat().st_size < expected:
        raise StorageFault(
            f"the warehouse file {path} is damaged (truncated: {path.stat().st_size:,} bytes for its "
            f"{used_blocks:,} blocks in use, at least {expected:,}); restore it from a backup, or move it aside "
            "and run `featurecast run` to build a new one"
        )
