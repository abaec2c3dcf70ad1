"""One open resource per task-database URL, opened on first use.

Resolved per request from the settings in force, so an application that calls
``resumable.configure()`` again (tests do) reaches the new database.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Generic, Protocol, TypeVar

from resumable import _config


class Closable(Protocol):
    def close(self) -> None: ...


ResourceT = TypeVar("ResourceT", bound=Closable)


class PerDatabase(ABC, Generic[ResourceT]):
    """Caches what :meth:`open` makes for each database URL; :meth:`close` releases all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened: dict[str, ResourceT] = {}

    @abstractmethod
    def open(self, url: str) -> ResourceT:
        """Make the resource for ``url``."""

    def current(self) -> ResourceT:
        """The resource of the task database in force."""
        url = _config.current_settings()[0].database_url
        with self._lock:
            found = self._opened.get(url)
            if found is None:
                found = self._opened[url] = self.open(url)
            return found

    def close(self) -> None:
        """Release every resource opened."""
        with self._lock:
            opened, self._opened = list(self._opened.values()), {}
        for resource in opened:
            resource.close()
