"""``HttpJob``: the common REST job pattern, crash-safe.

POST (or ``method``) to ``submit_url`` with an ``Idempotency-Key`` header, read the id
from the answer, GET ``status_url`` until the status is terminal, GET ``result_url``;
``cancel_url`` cancels. URLs after the first are templates with ``{id}``
(``lookup_url``: with ``{token}``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from resumable_providers.http._client import HttpJobError, request

from resumable import ConfigurationError, ResumableJobMixin

__all__ = ["HttpJob", "HttpJobError"]

log = logging.getLogger("resumable_providers.http")

MISSING = object()


def dig(body: Any, path: str | None) -> Any:
    """The value at dotted ``path`` in a JSON body (``"data.job.id"``, ``"items.0.id"``);
    the whole body when ``path`` is None or empty; ``MISSING`` when it is not there."""
    if not path:
        return body
    value = body
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _fill(template: str, **values: Any) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(str(value), safe=""))
    return template


def _statuses(name: str, value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigurationError(f"{name} must be a tuple of status strings, got {value!r}")
    items = tuple(value)
    if not items or not all(isinstance(item, str) for item in items):
        raise ConfigurationError(f"{name} must be a non-empty tuple of strings, got {value!r}")
    return frozenset(item.lower() for item in items)


def _seconds(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _url(name: str, value: Any, *, placeholder: str | None = None) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must be an http(s) URL, got {value!r}")
    if placeholder and "{" + placeholder + "}" not in value:
        raise ConfigurationError(f"{name} must contain {{{placeholder}}}, got {value!r}")
    return value


class HttpJob(ResumableJobMixin):
    """A job on a REST API: submit once, poll, fetch the result; survives crashes.

    The submit carries the idempotency token as an ``Idempotency-Key`` header, so a
    retry after a crash inside the submit window (the service accepted the job, the id
    was never saved) submits again with the same key and the service returns the same
    job; with ``lookup_url`` the retry first looks the job up by its key. Requests have
    timeouts; connection errors, 429 (honouring ``Retry-After``) and 5xx are retried with
    backoff and jitter; other 4xx fail at once with the response text.

    Args:
        submit_url: Where the job is submitted.
        status_url: Template with ``{id}``: the job's status.
        result_url: Template with ``{id}``: the job's result (default: the status body).
        cancel_url: Template with ``{id}``: requested (``cancel_method``) on cancel.
        method: HTTP method of the submit.
        json: Body of the submit.
        headers: Sent with every request (authentication, for example).
        id_path: Dotted path of the id in the submit (and lookup) response.
        status_path: Dotted path of the status in the status response.
        result_path: Dotted path of the result in the result response (default: all).
        running: Statuses of a job still running (compared case-insensitively).
        succeeded: Statuses of a job that succeeded.
        failed: Statuses of a job that failed (any status outside the three lists also
            ends the poll as a failure).
        poll_interval: Seconds between status requests.
        timeout: Seconds each request may take (connect, read, write, pool).
        lookup_url: Template with ``{token}``: answers the job submitted with that
            ``Idempotency-Key`` (its id at ``id_path``), or 404.
        cancel_method: HTTP method of the cancel request.
        request_attempts: Tries per request before giving up.
        request_retry_timeout: Seconds all tries of one request may take together.
        **kwargs: Passed on (``durable``; an operator's ``task_id`` and friends).

    Example::

        job = HttpJob(
            submit_url="https://batch.example/api/jobs",
            status_url="https://batch.example/api/jobs/{id}",
            result_url="https://batch.example/api/jobs/{id}/result",
            json={"query": "select 1"},
            running=("queued", "running"), succeeded=("done",), failed=("error",),
        )
    """

    external_id_key = "http_job_id"

    def __init__(
        self,
        *,
        submit_url: str,
        status_url: str,
        result_url: str | None = None,
        cancel_url: str | None = None,
        method: str = "POST",
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        id_path: str = "id",
        status_path: str = "status",
        result_path: str | None = None,
        running: Iterable[str] = ("pending", "queued", "running"),
        succeeded: Iterable[str] = ("succeeded", "success", "done", "completed"),
        failed: Iterable[str] = ("failed", "error", "cancelled", "canceled"),
        poll_interval: float = 5.0,
        timeout: float = 30.0,
        lookup_url: str | None = None,
        cancel_method: str = "POST",
        request_attempts: int = 5,
        request_retry_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        submit = _url("submit_url", submit_url)
        status = _url("status_url", status_url, placeholder="id")
        optional = {
            name: None if value is None else _url(name, value, placeholder=placeholder)
            for name, value, placeholder in (
                ("result_url", result_url, "id"),
                ("cancel_url", cancel_url, "id"),
                ("lookup_url", lookup_url, "token"),
            )
        }
        for name, value in (("method", method), ("cancel_method", cancel_method)):
            if not isinstance(value, str) or not value.isalpha():
                raise ConfigurationError(f"{name} must be an HTTP method, got {value!r}")
        if headers is not None and not (
            isinstance(headers, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise ConfigurationError(f"headers must map strings to strings, got {headers!r}")
        if (
            isinstance(request_attempts, bool)
            or not isinstance(request_attempts, int)
            or request_attempts < 1
        ):
            raise ConfigurationError(
                f"request_attempts must be an int >= 1, got {request_attempts!r}"
            )
        states = {
            name: _statuses(name, value)
            for name, value in (("running", running), ("succeeded", succeeded), ("failed", failed))
        }
        seconds = {
            name: _seconds(name, value)
            for name, value in (
                ("poll_interval", poll_interval),
                ("timeout", timeout),
                ("request_retry_timeout", request_retry_timeout),
            )
        }
        super().__init__(**kwargs)
        self.submit_url, self.status_url = submit, status
        self.result_url = optional["result_url"]
        self.cancel_url = optional["cancel_url"]
        self.lookup_url = optional["lookup_url"]
        self.method, self.cancel_method = method.upper(), cancel_method.upper()
        self.json = json
        self.headers = dict(headers or {})
        self.id_path, self.status_path, self.result_path = id_path, status_path, result_path
        self.running, self.succeeded, self.failed = (
            states["running"],
            states["succeeded"],
            states["failed"],
        )
        self.poll_interval = seconds["poll_interval"]
        self.timeout = seconds["timeout"]
        self.request_retry_timeout = seconds["request_retry_timeout"]
        self.request_attempts = request_attempts

    def _call(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (),
    ) -> Any:
        return request(
            method,
            url,
            timeout=self.timeout,
            attempts=self.request_attempts,
            retry_timeout=self.request_retry_timeout,
            headers={**self.headers, **(headers or {})},
            json=json,
            ok_statuses=ok_statuses,
        )

    def _json(self, response: Any) -> Any:
        try:
            return response.json()
        except ValueError:
            raise HttpJobError(
                f"{response.request.method} {response.request.url} answered "
                f"{response.status_code} with a body that is not JSON: {response.text[:200]!r}",
                response.status_code,
                response.text[:2000],
            ) from None

    def _id_from(self, body: Any, where: str) -> Any:
        job_id = dig(body, self.id_path)
        if job_id is MISSING or job_id is None:
            raise HttpJobError(f"no job id at {self.id_path!r} in the {where} response: {body!r}")
        return job_id

    # -- the mixin's methods ---------------------------------------------------------

    def submit_job(self, context: Any) -> Any:
        """Submit with the idempotency token as ``Idempotency-Key``; return the job id."""
        token = self.idempotency_token(context)
        headers = {"Idempotency-Key": token} if token else {}
        response = self._call(self.method, self.submit_url, json=self.json, headers=headers)
        job_id = self._id_from(self._json(response), "submit")
        log.info("submitted job id=%s to %s", job_id, self.submit_url)
        return job_id

    def find_job(self, token: str, context: Any) -> Any:
        """The job submitted with ``Idempotency-Key: token``, through ``lookup_url``."""
        if self.lookup_url is None:
            return None  # the resubmit with the same key lets the service deduplicate
        response = self._call("GET", _fill(self.lookup_url, token=token), ok_statuses=(404,))
        if response.status_code == 404:
            return None
        return self._id_from(self._json(response), "lookup")

    def _status_body(self, external_id: Any) -> Any:
        return self._json(self._call("GET", _fill(self.status_url, id=external_id)))

    def _status_of(self, body: Any) -> str:
        status = dig(body, self.status_path)
        if status is MISSING:
            raise HttpJobError(
                f"no status at {self.status_path!r} in the status response: {body!r}"
            )
        return str(status)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        """The status at ``status_path`` of the status response."""
        return self._status_of(self._status_body(external_id))

    def is_job_active(self, status: str) -> bool:
        """Whether ``status`` is one of ``running``."""
        return status.lower() in self.running

    def is_job_succeeded(self, status: str) -> bool:
        """Whether ``status`` is one of ``succeeded``."""
        return status.lower() in self.succeeded

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        """GET the status every ``poll_interval`` s until it is not running; raise unless
        it succeeded."""
        while True:
            body = self._status_body(external_id)
            status = self._status_of(body)
            if not self.is_job_active(status):
                break
            time.sleep(self.poll_interval)
        if not self.is_job_succeeded(status):
            kind = "failed" if status.lower() in self.failed else "ended with unknown status"
            raise HttpJobError(f"job {external_id} {kind} {status!r}: {body!r}"[:2000])

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        """The value at ``result_path`` of ``result_url``'s (else the status') response."""
        url = _fill(self.result_url or self.status_url, id=external_id)
        response = self._call("GET", url)
        try:
            body = response.json()
        except ValueError:
            return response.text  # a result may be plain text
        result = dig(body, self.result_path)
        if result is MISSING:
            raise HttpJobError(f"no result at {self.result_path!r} in {url}'s response: {body!r}")
        return result

    def cancel_job(self, external_id: Any, context: Any) -> None:
        """Request ``cancel_url`` (``cancel_method``); without one, only log."""
        if self.cancel_url is None:
            log.warning("job id=%s cannot be cancelled: no cancel_url", external_id)
            return
        self._call(self.cancel_method, _fill(self.cancel_url, id=external_id))
        log.warning("cancelled job id=%s", external_id)
