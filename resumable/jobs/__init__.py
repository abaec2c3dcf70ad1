"""Resumable external jobs: ``ResumableJobMixin`` and the standalone runner ``run_job``.

The decision (fresh submit, reconnect, already succeeded, terminal resubmit, recover by
token, resubmit with the same token) is the pure function :func:`decide`; the mixin
only asks the external system what the decision needs and reads/writes the store.
"""

from resumable.jobs._cancel import register_cancel_trigger
from resumable.jobs._decision import (
    Action,
    Answer,
    JobRecord,
    Question,
    decide,
    question_for,
    state_key,
)
from resumable.jobs._mixin import ResumableJobMixin
from resumable.jobs._runner import run_job
from resumable.jobs._store_access import KeyValueStore, register_store_resolver, resolve_store

__all__ = [
    "Action",
    "Answer",
    "JobRecord",
    "KeyValueStore",
    "Question",
    "ResumableJobMixin",
    "decide",
    "question_for",
    "register_cancel_trigger",
    "register_store_resolver",
    "resolve_store",
    "run_job",
    "state_key",
]
