"""The checkpoint store: Airflow-compatible key/value state per run.

Backends (memory, SQLite, PostgreSQL, Redis) are chosen by URL and imported lazily.
"""

from resumable._config import STORE_URL_ENV
from resumable.store._retention import NEVER_EXPIRE
from resumable.store._scoped import TaskStateStore
from resumable.store._store import Store, default_store_url, open_store

__all__ = [
    "NEVER_EXPIRE",
    "STORE_URL_ENV",
    "Store",
    "TaskStateStore",
    "default_store_url",
    "open_store",
]
