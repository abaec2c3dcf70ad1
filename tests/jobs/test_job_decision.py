"""The pure resume decision, over every stored state and every answer (a full table)."""

from __future__ import annotations

import itertools

import pytest

from resumable.jobs import Action, Answer, JobRecord, Question, decide, question_for
from resumable.jobs._decision import classify_status, intent, parse_record

NO_RECORD = None
INTENT = JobRecord(token="t-1")
SUBMITTED = JobRecord(token="t-1", external_id="j-1")
SUCCEEDED = JobRecord(token="t-1", external_id="j-1", succeeded=True)
LEGACY = JobRecord(token=None, external_id="j-1")  # written by Airflow's own mixin
STATES = {
    "none": NO_RECORD,
    "intent": INTENT,
    "submitted": SUBMITTED,
    "succeeded": SUCCEEDED,
    "legacy": LEGACY,
}

# Every (state, answer) pair: the action, or None when the answer cannot occur.
TABLE = {
    ("none", Answer.NONE): Action.FRESH_SUBMIT,
    ("succeeded", Answer.NONE): Action.ALREADY_SUCCEEDED,
    ("submitted", Answer.ACTIVE): Action.RECONNECT,
    ("submitted", Answer.SUCCEEDED): Action.ALREADY_SUCCEEDED,
    ("submitted", Answer.ENDED): Action.TERMINAL_RESUBMIT,
    ("legacy", Answer.ACTIVE): Action.RECONNECT,
    ("legacy", Answer.SUCCEEDED): Action.ALREADY_SUCCEEDED,
    ("legacy", Answer.ENDED): Action.TERMINAL_RESUBMIT,
    ("intent", Answer.FOUND): Action.RECOVER_BY_TOKEN,
    ("intent", Answer.NOT_FOUND): Action.RESUBMIT_WITH_SAME_TOKEN,
}
QUESTIONS = {
    "none": Question.NOTHING,
    "succeeded": Question.NOTHING,
    "submitted": Question.STATUS,
    "legacy": Question.STATUS,
    "intent": Question.FIND_BY_TOKEN,
}
ALL_PAIRS = list(itertools.product(STATES, Answer))


@pytest.mark.parametrize(
    ("state", "answer"), ALL_PAIRS, ids=[f"{s}-{a.value}" for s, a in ALL_PAIRS]
)
def test_every_state_and_answer(state: str, answer: Answer) -> None:
    record = STATES[state]
    expected = TABLE.get((state, answer))
    if expected is None:
        with pytest.raises(ValueError, match="does not answer"):
            decide(record, answer)
    else:
        assert decide(record, answer) is expected


@pytest.mark.parametrize("state", list(STATES))
def test_question_per_state(state: str) -> None:
    assert question_for(STATES[state]) is QUESTIONS[state]


def test_every_action_is_reachable() -> None:
    assert set(TABLE.values()) == set(Action)


@pytest.mark.parametrize(
    ("action", "submits", "new_token"),
    [
        (Action.FRESH_SUBMIT, True, True),
        (Action.TERMINAL_RESUBMIT, True, True),
        (Action.RESUBMIT_WITH_SAME_TOKEN, True, False),
        (Action.RECONNECT, False, False),
        (Action.ALREADY_SUCCEEDED, False, False),
        (Action.RECOVER_BY_TOKEN, False, False),
    ],
)
def test_which_actions_submit_and_which_start_a_token(
    action: Action, submits: bool, new_token: bool
) -> None:
    assert action.submits is submits
    assert action.new_token is new_token


@pytest.mark.parametrize(
    ("active", "succeeded", "answer"),
    [
        (True, False, Answer.ACTIVE),
        (True, True, Answer.ACTIVE),  # is_job_active is asked first, as in Airflow
        (False, True, Answer.SUCCEEDED),
        (False, False, Answer.ENDED),
    ],
)
def test_status_classification(active: bool, succeeded: bool, answer: Answer) -> None:
    assert classify_status(active, succeeded) is answer


def test_record_round_trips_through_json() -> None:
    structured = JobRecord(token="t", external_id={"cluster": "c", "id": 7})
    for record in (INTENT, SUBMITTED, SUCCEEDED, structured):
        assert parse_record(record.to_json()) == record
    assert None not in INTENT.to_json().values()  # stores refuse nulls


def test_record_transitions() -> None:
    record = intent("t-9")
    assert record == JobRecord(token="t-9")
    submitted = record.with_external_id(["a", 1])
    assert submitted == JobRecord(token="t-9", external_id=["a", 1])
    assert submitted.as_succeeded().succeeded
    assert submitted.as_succeeded().token == "t-9"


@pytest.mark.parametrize(
    ("stored", "legacy", "expected"),
    [
        (None, None, None),
        (None, "j-1", JobRecord(token=None, external_id="j-1")),
        (None, "", None),  # Airflow treats a falsy id as no id
        (None, 0, None),
        ("not a record", None, None),
        ({"v": 99, "token": "t"}, None, None),
        ({"v": 1, "token": "t"}, "j-old", JobRecord(token="t")),  # the record wins
    ],
)
def test_parse_record(stored: object, legacy: object, expected: JobRecord | None) -> None:
    assert parse_record(stored, legacy) == expected
