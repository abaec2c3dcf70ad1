"""How a ``resumable.run_task`` message is published: what Celery would send, for less.

``send`` writes the monitoring headers itself (Celery's ``saferepr`` of them costs a
tenth of a publish) and passes no queue to declare once kombu's record says the
producer's connection declared it (kombu copies and binds the queue before looking,
a fifth of a publish). On a new connection, with ``task_routes``, or for a queue kombu
never caches, Celery declares as it always does. On RabbitMQ, where a message sent to
an undeclared queue is dropped, the first publish to a new queue still arrives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.utils.saferepr import saferepr

from resumable.execution.celery._app import send
from tests.celery.harness import RABBITMQ_BROKER, REDIS_BROKER, _delete_amqp
from tests.conftest import require_server


class Recorded:
    """The app's ``send_task`` keywords, call by call (the publish itself is real)."""

    def __init__(self, app: Celery) -> None:
        self.calls: list[dict[str, Any]] = []
        original = app.send_task

        def send_task(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(dict(kwargs))
            return original(*args, **kwargs)

        app.send_task = send_task

    def declared(self) -> list[Any]:
        return [call.get("declare") for call in self.calls]


@pytest.fixture
def redis_app() -> Iterator[tuple[Celery, str]]:
    require_server("redis")
    import redis

    queue = f"publish-{uuid.uuid4().hex[:8]}"
    app = Celery("publish", broker=REDIS_BROKER)
    app.conf.task_default_queue = queue
    yield app, queue
    app.close()
    client = redis.Redis.from_url(REDIS_BROKER)
    client.delete(queue)
    client.close()


def _queued(queue: str) -> list[dict[str, Any]]:
    import redis

    client = redis.Redis.from_url(REDIS_BROKER)
    try:
        return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    finally:
        client.close()


def test_the_queue_is_declared_once_per_connection(redis_app: tuple[Celery, str]) -> None:
    app, queue = redis_app
    recorded = Recorded(app)
    uuids = [str(uuid.uuid4()) for _ in range(3)]
    for task_uuid in uuids:
        send(app, task_uuid, message_id=task_uuid)
    # Celery's default (declare) first; then kombu's record says it is done.
    assert recorded.declared() == [None, [], []]
    messages = _queued(queue)
    assert sorted(m["headers"]["id"] for m in messages) == sorted(uuids)
    for message in messages:
        headers = message["headers"]
        # Exactly what Celery's own saferepr would have written.
        assert headers["argsrepr"] == saferepr((headers["id"],))
        assert headers["kwargsrepr"] == saferepr({})
        assert headers["task"] == "resumable.run_task"


def test_a_connection_that_forgot_declares_again(redis_app: tuple[Celery, str]) -> None:
    app, queue = redis_app
    recorded = Recorded(app)
    send(app, str(uuid.uuid4()))
    send(app, str(uuid.uuid4()))
    # kombu empties a connection's record when it closes or connects again (a broker
    # restart): the next publish on it declares the queue anew.
    with app.producer_or_acquire() as producer:
        producer.connection.declared_entities.clear()
    send(app, str(uuid.uuid4()))
    send(app, str(uuid.uuid4()))
    assert recorded.declared() == [None, [], None, []]
    assert len(_queued(queue)) == 4


def test_routes_leave_declaring_to_celery(redis_app: tuple[Celery, str]) -> None:
    app, queue = redis_app
    side = f"{queue}-side"
    app.conf.task_routes = {"resumable.run_task": {"queue": side}}
    recorded = Recorded(app)
    try:
        for _ in range(3):
            send(app, str(uuid.uuid4()))
        assert recorded.declared() == [None, None, None]
        assert len(_queued(side)) == 3 and _queued(queue) == []
    finally:
        import redis

        client = redis.Redis.from_url(REDIS_BROKER)
        client.delete(side)
        client.close()


def test_a_named_queue_is_tracked_on_its_own(redis_app: tuple[Celery, str]) -> None:
    app, queue = redis_app
    other = f"{queue}-other"
    recorded = Recorded(app)
    try:
        send(app, str(uuid.uuid4()))
        send(app, str(uuid.uuid4()), queue=other)
        send(app, str(uuid.uuid4()), queue=other)
        send(app, str(uuid.uuid4()))
        assert recorded.declared() == [None, None, [], []]
        assert len(_queued(other)) == 2 and len(_queued(queue)) == 2
    finally:
        import redis

        client = redis.Redis.from_url(REDIS_BROKER)
        client.delete(other)
        client.close()


def test_rabbitmq_gets_the_first_message_of_a_new_queue() -> None:
    queue = f"publish-{uuid.uuid4().hex[:8]}"
    app = Celery("publish", broker=RABBITMQ_BROKER)
    app.conf.task_default_queue = queue
    app.conf.control_exchange = f"{queue}-ctl"
    recorded = Recorded(app)
    try:
        for _ in range(3):
            send(app, str(uuid.uuid4()))
        assert recorded.declared() == [None, [], []]
        with app.connection_for_read() as conn:
            found = conn.default_channel.queue_declare(queue, passive=True)
        assert found.message_count == 3
    finally:
        app.close()
        _delete_amqp(queue, f"{queue}-ctl")
