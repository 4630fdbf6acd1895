"""The ServiceFactory: routes ask it for a service by name (a FastAPI dependency), so tests and later
phases plug in the same way; each service is built once, on first use."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class UnknownServiceError(KeyError):
    pass


class ServiceFactory:
    """A registry of named services, each built once on first use."""

    def __init__(self) -> None:
        self._builders: dict[str, Callable[[], Any]] = {}
        self._instances: dict[str, Any] = {}

    def register(self, name: str, builder: Callable[[], Any]) -> None:
        if name in self._builders:
            raise ValueError(f"service {name!r} is already registered")
        self._builders[name] = builder

    def names(self) -> list[str]:
        return sorted(self._builders)

    def get(self, name: str) -> Any:
        if name not in self._builders:
            raise UnknownServiceError(name)
        if name not in self._instances:
            self._instances[name] = self._builders[name]()
        return self._instances[name]
