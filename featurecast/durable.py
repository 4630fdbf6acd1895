"""Files that become visible only once they are safely on disk: fsync, then an atomic rename.

A reader (the API, an analyst's DuckDB client) only ever sees the previous file or the complete new
one; a crash or a kill at any step leaves at most a `.partial` or `.tmp` file that the next publish
removes.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) contents and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(source: Path, target: Path) -> None:
    """Make `source` the file at `target`: fsync it, rename it over `target`, fsync the directory."""
    fsync_path(source)
    os.replace(source, target)
    fsync_path(target.parent)


def write_text_durably(path: Path, text: str) -> None:
    """Replace `path` with `text`, atomically and durably (a `.tmp` sibling first)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    replace_durably(tmp, path)


def remove_leftovers(directory: Path, patterns: tuple[str, ...] = (".*.partial", ".*.tmp")) -> list[Path]:
    """Delete what an interrupted publish left behind in `directory`. Returns what was removed."""
    removed = []
    for pattern in patterns:
        for leftover in directory.glob(pattern):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed
