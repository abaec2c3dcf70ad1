"""Abort and completion signals between whoever changes a task and whoever waits on it.

The database row is always the truth; a transport only tells waiters *when to look*.
This release ships database polling (:class:`DatabasePolling`); push transports (Redis,
PostgreSQL LISTEN/NOTIFY) implement the same :class:`SignalTransport` protocol.
"""

from resumable.coordination._polling import DatabasePolling
from resumable.coordination._transport import SignalTransport, StatusReader

__all__ = ["DatabasePolling", "SignalTransport", "StatusReader"]
