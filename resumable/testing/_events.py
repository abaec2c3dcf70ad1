"""The event log a child writes and the kit reads: one JSON object per line.

Each line is written with a single ``os.write`` on an ``O_APPEND`` descriptor, so a
child killed with SIGKILL leaves only whole lines behind (nothing waits in a buffer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` if it survives JSON, else its ``repr`` (events are for people to read)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class EventWriter:
    """Appends events to one file; safe to use until the process is killed."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"kind": kind, **{k: jsonable(v) for k, v in fields.items()}})
        os.write(self._fd, (line + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every whole event in ``path`` (none when the file does not exist yet)."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:  # a line cut short cannot happen with one write; be safe anyway
            continue
    return events
