"""Versioned schema migrations for every SQL table resumable owns.

``resumable db migrate`` applies them; stores and the task framework also apply them
on first use, so an embedded database needs no setup step.
"""

from resumable.migrations.runner import SCHEMA_VERSION, current_version, migrate

__all__ = ["SCHEMA_VERSION", "current_version", "migrate"]
