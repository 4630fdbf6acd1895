"""The records a build leaves beside the warehouse, so the next build knows what it may skip.

- `<warehouse>.dbt_vars.json`: the build fingerprint (project variables, declared features) of the last
  successful build of the features; a different one means a full rebuild.
- `<warehouse>.unit_tested.json`: per stage, the project files' fingerprint its SQL tests last passed with.
- `<warehouse>.stages.json`: per stage, the state of its source tables when its last successful build
  started, and when that was.

They are caches of facts about the warehouse: deleting them is always safe (the next build runs the
tests and builds every stage once more); an unreadable one counts as missing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurecast.config import Settings


def _sidecar(settings: Settings, suffix: str) -> Path:
    return settings.warehouse_path.with_name(settings.warehouse_path.name + suffix)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError):
        return None


def _write(path: Path, text: str) -> None:
    """Write beside the warehouse and rename into place: a crash leaves the old record or the new one."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    part.replace(path)


def read_vars(settings: Settings) -> str | None:
    path = _sidecar(settings, ".dbt_vars.json")
    try:
        return path.read_text() if path.exists() else None
    except OSError:
        return None


def write_vars(settings: Settings, fingerprint: str) -> None:
    _write(_sidecar(settings, ".dbt_vars.json"), fingerprint)


def read_unit_tested(settings: Settings) -> dict[str, str]:
    found = _read_json(_sidecar(settings, ".unit_tested.json"))
    return found if isinstance(found, dict) else {}


def write_unit_tested(settings: Settings, stage: str, code: str) -> None:
    record = {**read_unit_tested(settings), stage: code}
    _write(_sidecar(settings, ".unit_tested.json"), json.dumps(record, indent=2, sort_keys=True))


def read_stage(settings: Settings, stage: str) -> dict[str, Any] | None:
    """The stage's last successful build: {"sources": {table: state}, "built_at": ISO time}, or None."""
    found = _read_json(_sidecar(settings, ".stages.json"))
    record = found.get(stage) if isinstance(found, dict) else None
    return record if isinstance(record, dict) and isinstance(record.get("sources"), dict) else None


def write_stages(settings: Settings, built: str, sources: dict[str, str]) -> None:
    """Record that stage `built` was built from `sources`. A stage it covers (plan.COVERS) is up to date
    for the tables both read: its record takes their states (and is created when `built` reads every
    table it reads). Without readable sources, the covered stages' records are dropped."""
    from dbt_project.plan import COVERS, STAGE_SOURCES

    found = _read_json(_sidecar(settings, ".stages.json"))
    record: dict[str, Any] = found if isinstance(found, dict) else {}
    built_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for stage in COVERS[built]:
        shared = set(STAGE_SOURCES[stage]) & set(STAGE_SOURCES[built])
        whole = set(STAGE_SOURCES[stage]) <= set(STAGE_SOURCES[built])
        if not sources:
            record.pop(stage, None)  # the sources could not be read: no claim about them
        elif whole:
            record[stage] = {"sources": {k: sources[k] for k in sorted(shared) if k in sources}, "built_at": built_at}
        elif isinstance(record.get(stage), dict):
            record[stage]["sources"].update({k: sources[k] for k in shared if k in sources})
    _write(_sidecar(settings, ".stages.json"), json.dumps(record, indent=2, sort_keys=True))
