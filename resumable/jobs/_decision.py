"""The resume decision: stored job state + what the external system says -> an action.

Everything here is pure (no I/O, no clock, no randomness), so every combination is tested
in a table without Airflow, a store or an external system. The mixin asks the question
:func:`question_for` names, feeds the answer to :func:`decide`, and carries out the
action.

What is stored, per job, is one JSON record under ``state_key(external_id_key)``::

    {"v": 1, "token": "…"}                                      intent: about to submit
    {"v": 1, "token": "…", "external_id": …}                    submitted
    {"v": 1, "token": "…", "external_id": …, "succeeded": true} finished successfully

One record (not one key per field) keeps each step to a single store round trip. The
external id is also mirrored, as a plain value, under ``external_id_key`` itself — the key
Airflow's own mixin reads and writes — so tools and an Airflow-mixin retry see the id
where they expect it; a plain id found there (written by Airflow's mixin) is honoured
when no record exists.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

RECORD_VERSION = 1
STATE_KEY_SUFFIX = ".resumable"


def state_key(external_id_key: str) -> str:
    """The key the job's record lives under, derived from ``external_id_key``."""
    return external_id_key + STATE_KEY_SUFFIX


class Action(str, enum.Enum):
    """What :meth:`ResumableJobMixin.execute_resumable` does next.

    The values are the ``resumable.decision`` span attribute and the log field.
    """

    FRESH_SUBMIT = "fresh_submit"
    """No job recorded: persist an intent with a new token, then submit."""
    RECONNECT = "reconnect"
    """A recorded job is still active: poll it, then fetch its result."""
    ALREADY_SUCCEEDED = "already_succeeded"
    """The recorded job succeeded: fetch its result, neither submit nor poll."""
    TERMINAL_RESUBMIT = "terminal_resubmit"
    """The recorded job ended without success: new token, submit again."""
    RECOVER_BY_TOKEN = "recover_by_token"
    """An intent without id, and ``find_job(token)`` found the job: record it, poll it."""
    RESUBMIT_WITH_SAME_TOKEN = "resubmit_with_same_token"
    """An intent without id, and no job found for the token: submit with the same token."""

    @property
    def submits(self) -> bool:
        """Whether the action calls ``submit_job``."""
        return self in (
            Action.FRESH_SUBMIT,
            Action.TERMINAL_RESUBMIT,
            Action.RESUBMIT_WITH_SAME_TOKEN,
        )

    @property
    def new_token(self) -> bool:
        """Whether the action starts a new idempotency token (and a new intent record)."""
        return self in (Action.FRESH_SUBMIT, Action.TERMINAL_RESUBMIT)


class Question(enum.Enum):
    """What the mixin must ask the external system before it can decide."""

    NOTHING = "nothing"
    STATUS = "status"  # get_job_status(external_id) classified by is_job_active/succeeded
    FIND_BY_TOKEN = "find_by_token"  # find_job(token)


class Answer(enum.Enum):
    """The external system's answer to a :class:`Question`, as the decision needs it."""

    NONE = "none"  # nothing was asked
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    ENDED = "ended"  # any other status: failed, cancelled, unknown to the system
    FOUND = "found"
    NOT_FOUND = "not_found"


_ANSWERS_TO = {
    Question.NOTHING: {Answer.NONE},
    Question.STATUS: {Answer.ACTIVE, Answer.SUCCEEDED, Answer.ENDED},
    Question.FIND_BY_TOKEN: {Answer.FOUND, Answer.NOT_FOUND},
}


@attrs.frozen(kw_only=True)
class JobRecord:
    """The stored state of one job (see the module docstring for its JSON form).

    Attributes:
        token: The idempotency token, or None for an id written by Airflow's mixin.
        external_id: The external id (any JSON value), or None before it is known.
        succeeded: The job finished successfully (the terminal status cache).
    """

    token: str | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )
    external_id: Any = None
    succeeded: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    @property
    def has_id(self) -> bool:
        """Whether the external id is known."""
        return self.external_id is not None

    def with_external_id(self, external_id: Any) -> JobRecord:
        """This record after ``submit_job`` (or ``find_job``) returned ``external_id``."""
        return attrs.evolve(self, external_id=external_id, succeeded=False)

    def as_succeeded(self) -> JobRecord:
        """This record once its job is known to have succeeded."""
        return attrs.evolve(self, succeeded=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON value stored under :func:`state_key` (no nulls: stores refuse them)."""
        value: dict[str, Any] = {"v": RECORD_VERSION}
        if self.token is not None:
            value["token"] = self.token
        if self.external_id is not None:
            value["external_id"] = self.external_id
        if self.succeeded:
            value["succeeded"] = True
        return value


def intent(token: str) -> JobRecord:
    """The record persisted before ``submit_job`` runs."""
    return JobRecord(token=token)


def parse_record(stored: Any, legacy_id: Any = None) -> JobRecord | None:
    """The :class:`JobRecord` a store holds, or None when it holds no job.

    Args:
        stored: The value under :func:`state_key`, or None when missing.
        legacy_id: The value under ``external_id_key`` itself, consulted only when there
            is no record: that is where Airflow's own mixin keeps the id. Like Airflow,
            a falsy id counts as no id.

    A value under the record key that is not a record (someone else wrote it) counts as
    missing rather than failing the run: the job is then submitted as if new.
    """
    if isinstance(stored, dict) and stored.get("v") == RECORD_VERSION:
        token = stored.get("token")
        return JobRecord(
            token=token if isinstance(token, str) else None,
            external_id=stored.get("external_id"),
            succeeded=stored.get("succeeded") is True,
        )
    if legacy_id:
        return JobRecord(token=None, external_id=legacy_id)
    return None


def question_for(record: JobRecord | None) -> Question:
    """What must be asked of the external system before deciding on ``record``.

    A cached success needs no question: a retry after success must not depend on the
    external system still remembering the job.
    """
    if record is None or record.succeeded:
        return Question.NOTHING
    if record.has_id:
        return Question.STATUS
    return Question.FIND_BY_TOKEN


def decide(record: JobRecord | None, answer: Answer = Answer.NONE) -> Action:
    """The action for ``record`` given the ``answer`` to :func:`question_for`'s question.

    Raises:
        ValueError: ``answer`` does not answer the question ``record`` poses.
    """
    question = question_for(record)
    if answer not in _ANSWERS_TO[question]:
        raise ValueError(f"{answer.value!r} does not answer {question.value!r} for {record!r}")
    if record is None:
        return Action.FRESH_SUBMIT
    if record.succeeded:
        return Action.ALREADY_SUCCEEDED
    return {
        Answer.ACTIVE: Action.RECONNECT,
        Answer.SUCCEEDED: Action.ALREADY_SUCCEEDED,
        Answer.ENDED: Action.TERMINAL_RESUBMIT,
        Answer.FOUND: Action.RECOVER_BY_TOKEN,
        Answer.NOT_FOUND: Action.RESUBMIT_WITH_SAME_TOKEN,
    }[answer]


def classify_status(active: bool, succeeded: bool) -> Answer:
    """The :class:`Answer` for a raw status, from ``is_job_active`` / ``is_job_succeeded``.

    Active wins over succeeded, as in Airflow's mixin (it asks ``is_job_active`` first).
    """
    if active:
        return Answer.ACTIVE
    if succeeded:
        return Answer.SUCCEEDED
    return Answer.ENDED
