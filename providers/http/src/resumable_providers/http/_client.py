"""One HTTP request with timeouts and retries: httpx for the wire, stamina for the retries.

Retried: connection errors and timeouts (``httpx.TransportError``), 429 and 5xx, with
exponential backoff and jitter; a ``Retry-After`` header sets the wait instead. Retrying
a submit is safe because it carries an ``Idempotency-Key``. Any other 4xx fails at once
with the response text: asking again would get the same answer.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx
import stamina

from resumable import ResumableError

_TEXT_LIMIT = 2000  # characters of a response body kept in an error


class HttpJobError(ResumableError, RuntimeError):
    """A request failed for good, or the job ended without success.

    Attributes:
        status_code: The HTTP status of the failed response (None: no response, or the
            job itself failed).
        text: The response body (cut to 2000 characters), or what went wrong.
    """

    def __init__(self, message: str, status_code: int | None = None, text: str = "") -> None:
        super().__init__(message, status_code, text)
        self.message = message
        self.status_code = status_code
        self.text = text

    def __str__(self) -> str:
        return self.message


class _RetryableResponse(Exception):
    """A 429 or 5xx answer, raised so that stamina retries the request."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} {response.reason_phrase}")
        self.response = response


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the ``Retry-After`` header asks to wait (number or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _backoff(exc: BaseException) -> bool | float:
    """stamina's hook: whether to retry ``exc``, or how long to wait before it."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, _RetryableResponse):
        wait = retry_after(exc.response)
        return True if wait is None else wait
    return False


def _describe(response: httpx.Response) -> str:
    text = response.text
    cut = text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + "…"
    return f"{response.request.method} {response.request.url} -> {response.status_code}: {cut}"


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    attempts: int,
    retry_timeout: float,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    ok_statuses: tuple[int, ...] = (),
) -> httpx.Response:
    """Send one request, retrying what is safe to retry; return a 2xx (or ``ok_statuses``)
    response.

    Raises:
        HttpJobError: A 4xx (other than 429 or ``ok_statuses``), or retries ran out.
    """
    kwargs: dict[str, Any] = {"headers": dict(headers or {})}
    if json is not None:
        kwargs["json"] = json
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True) as client:
        try:
            for attempt in stamina.retry_context(
                on=_backoff, attempts=attempts, timeout=retry_timeout, wait_max=10.0
            ):
                with attempt:
                    response = client.request(method, url, **kwargs)
                    if response.status_code == 429 or response.status_code >= 500:
                        raise _RetryableResponse(response)
        except _RetryableResponse as exc:
            raise HttpJobError(
                f"gave up after {attempts} attempts: {_describe(exc.response)}",
                exc.response.status_code,
                exc.response.text[:_TEXT_LIMIT],
            ) from None
        except httpx.TransportError as exc:
            raise HttpJobError(
                f"{method} {url} failed after {attempts} attempts: {type(exc).__name__}: {exc}"
            ) from exc
    if response.is_success or response.status_code in ok_statuses:
        return response
    raise HttpJobError(_describe(response), response.status_code, response.text[:_TEXT_LIMIT])
