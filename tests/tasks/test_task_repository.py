"""The repository's compare-and-set moves obey the transition table, nothing more."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import update

from resumable.migrations.schema import tasks
from resumable.tasks import _services
from resumable.tasks._models import TaskScope, TaskStatus
from resumable.tasks._repository import TaskRepository
from resumable.tasks._rows import NewTask
from resumable.tasks._transitions import can_move, is_terminal

pytestmark = pytest.mark.usefixtures("tasks_db")


def _new(repository: TaskRepository, dedup: str | None = None) -> str:
    record, created = repository.create(
        NewTask(
            uuid=str(uuid.uuid4()),
            name="n",
            task_key=None,
            task_name=None,
            scope=TaskScope.PRIVATE,
            active_dedup_key=dedup,
            retries=0,
            retry_delay=0.0,
            timeout=None,
            created_by=None,
            arguments=None,
        )
    )
    assert created
    return record.uuid


def _force(repository: TaskRepository, task_uuid: str, status: TaskStatus) -> None:
    with repository.database.tx.begin() as conn:
        conn.execute(update(tasks).where(tasks.c.uuid == task_uuid).values(status=status.value))


def test_every_pair_of_statuses() -> None:
    repository = _services.current().repository
    for source in TaskStatus:
        for target in TaskStatus:
            task_uuid = _new(repository, dedup=uuid.uuid4().hex)
            _force(repository, task_uuid, source)
            moved = repository.move(task_uuid, target)
            assert moved == can_move(source, target), (source, target)
            record = repository.get(task_uuid)
            assert record is not None
            assert record.status is (target if moved else source)
            if moved and is_terminal(target):
                assert record.ended_at is not None


def test_terminal_move_frees_the_dedup_key() -> None:
    repository = _services.current().repository
    first = _new(repository, dedup="key")
    assert repository.claim(first) is not None
    assert repository.move(first, TaskStatus.SUCCESS)
    second = _new(repository, dedup="key")  # no conflict: the key was freed
    assert second != first


def test_concurrent_moves_out_of_one_status_have_one_winner() -> None:
    repository = _services.current().repository
    for _ in range(20):
        task_uuid = _new(repository)
        assert repository.claim(task_uuid) is not None
        barrier = threading.Barrier(3)
        wins: list[TaskStatus] = []

        def attempt(
            target: TaskStatus, task_uuid: str = task_uuid, b: Any = barrier, w: Any = wins
        ) -> None:
            b.wait(20)
            if repository.move(task_uuid, target):
                w.append(target)

        threads = [
            threading.Thread(target=attempt, args=(t,))
            # Finish, retry, abort: none of them is allowed after another.
            for t in (TaskStatus.SUCCESS, TaskStatus.PENDING, TaskStatus.ABORTING)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(wins) == 1
        record = repository.get(task_uuid)
        assert record is not None and record.status is wins[0]


@pytest.mark.parametrize("signal", [False, True])
def test_succeed_unread_is_the_same_move_without_the_record(signal: bool) -> None:
    """What a Celery or worker process calls: the same compare-and-set as succeed(),
    the result stored and the dedup key freed, one winner per attempt; the signal rides
    with it on PostgreSQL when a channel is given."""
    services = _services.current()
    repository = services.repository
    channel = services.signals.pg_channel if signal else None
    task_uuid = _new(repository, dedup="unread")
    claimed = repository.claim(task_uuid)
    assert claimed is not None
    assert repository.succeed_unread(task_uuid, claimed.attempt + 1, '"no"') == (False, False)
    won, signalled = repository.succeed_unread(
        task_uuid, claimed.attempt, '"done"', pg_channel=channel
    )
    assert won and signalled is (channel is not None)
    record = repository.get(task_uuid)
    assert record is not None and record.status is TaskStatus.SUCCESS
    assert record.result == "done" and record.ended_at is not None
    assert repository.succeed_unread(task_uuid, claimed.attempt, '"again"') == (False, False)
    _new(repository, dedup="unread")  # the key is free again
