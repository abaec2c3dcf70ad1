"""``ResumableJobMixin``: submit an external job once, reconnect to it after a crash.

The class is a thin shell: :func:`_execute` reads the stored record, asks the external
system the one question :func:`~resumable.jobs._decision.question_for` names, lets the
pure :func:`~resumable.jobs._decision.decide` choose, and carries the action out with the
operator's own methods and at most a few store writes.
"""

from __future__ import annotations

import abc
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from resumable._errors import ConfigurationError, StaleAttemptError
from resumable.jobs import _observability as obs
from resumable.jobs._cancel import cancel_quietly, is_cancel_trigger, is_final_failure
from resumable.jobs._decision import (
    Action,
    Answer,
    JobRecord,
    Question,
    classify_status,
    decide,
    intent,
    question_for,
)
from resumable.jobs._orphans import settle_stale_submission
from resumable.jobs._store_access import (
    KeyValueStore,
    read_record,
    resolve_store,
    try_number_of,
    write_record,
)


class _DurableDefault:
    """``durable``'s default: True, but distinguishable from an explicit ``True``.

    Airflow fills unspecified constructor arguments from ``default_args``; telling
    "not given" apart from "given as True" lets ``default_args={"durable": False}`` (or
    ``{"resume_on_retry": False}``) apply even when the operator's own ``__init__`` does
    not declare the keyword.
    """

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "True"


_DURABLE_DEFAULT: Any = _DurableDefault()


class ResumableJobMixin(abc.ABC):
    """Submit one long-running external job, and reconnect to it instead of resubmitting.

    Drop-in for Airflow's ``airflow.sdk.ResumableJobMixin``: the same six methods to
    implement, the same ``external_id_key`` attribute, the same ``resume_on_retry``
    keyword (``durable`` in Airflow 3.3, accepted too), the same decision logic, metric
    and span names and log wording. Mix it into an Airflow operator
    (``class Op(ResumableJobMixin, BaseOperator)``) or use it alone and run it with
    :func:`resumable.run_job`.

    ``execute_resumable(context)`` takes the store from ``context["task_state_store"]``
    (anything with ``get(key)`` and ``set(key, value)``, as Airflow's store protocol
    offers; ``update`` is used when the store has it) and then:

    - **No job recorded**: persists an *intent* holding a new idempotency token, calls
      ``submit_job`` (inside it, :meth:`idempotency_token` returns the token), persists
      the returned id, polls, caches the success, returns ``get_job_result``.
    - **Recorded id, status active**: reconnects — polls the same job (no submit) and
      returns ``get_job_result`` (not the poll's return value).
    - **Recorded id, status succeeded, or success cached**: returns ``get_job_result``
      without submitting or polling; a cached success does not even ask for the status,
      so it works after the external system has forgotten the job.
    - **Recorded id, any other status**: submits afresh with a new token.
    - **Intent but no id** (the worker died inside ``submit_job``): asks
      ``find_job(token)``; an id means reconnect, None means submit again with the
      same token.
    - **No store**: logs a warning ("crash recovery is disabled") and submits fresh.
      ``resume_on_retry=False`` (or ``durable=False``): never reads or writes the store.

    ``cancel_job`` runs from :meth:`on_kill` (Airflow calls it on SIGTERM and after a
    timeout) and when an abort or timeout exception escapes submit or poll (see
    :func:`resumable.jobs.register_cancel_trigger`); at most once per run. Its failures
    are logged and never replace the original error.

    Attributes:
        external_id_key: The store key of the external id (default ``"remote_job_id"``).
            The job's record lives under ``external_id_key + ".resumable"``. Renaming it
            on a deployed job loses track of in-flight jobs.
        durable: Whether state is read and written (constructor keyword
            ``resume_on_retry`` or ``durable``); also readable as ``resume_on_retry``.
        cancel_on_failure: Whether a final failure (an exception escaping the poll
            with no retries left, per Airflow's ``ti.max_tries``) cancels the job
            (constructor keyword, default False).

    Example::

        class SparkJob(ResumableJobMixin):
            external_id_key = "spark_job_id"

            def submit_job(self, context):
                return client.submit(token=self.idempotency_token(context))
            ...
    """

    external_id_key: str = "remote_job_id"
    durable: bool = True
    cancel_on_failure: bool = False

    # Per-run bookkeeping, on the instance because Airflow's on_kill gets no context.
    _resumable_context: Any = None
    _resumable_current_id: Any = None
    _resumable_cancelled_id: Any = None
    _resumable_token: str | None = None
    _resumable_submitting: bool = False

    def __init__(
        self,
        *args: Any,
        resume_on_retry: bool = _DURABLE_DEFAULT,
        durable: bool = _DURABLE_DEFAULT,
        cancel_on_failure: bool = False,
        **kwargs: Any,
    ) -> None:
        """Create the job (or operator); extra arguments go to the next class in the MRO.

        Args:
            *args: Passed on to the next class's ``__init__`` (for example BaseOperator).
            resume_on_retry: False turns crash recovery off: the store is neither read
                nor written. When not given, Airflow's ``default_args`` apply.
            durable: The same switch under the name Airflow 3.3's mixin uses.
            cancel_on_failure: True cancels the external job when the last try fails
                (closes apache/airflow#72128 for this operator).
            **kwargs: Passed on to the next class's ``__init__``.

        Raises:
            ConfigurationError: ``resume_on_retry``, ``durable`` or ``cancel_on_failure``
                is not a bool, or ``resume_on_retry`` and ``durable`` disagree.
        """
        durable = _resume_switch(resume_on_retry, durable, kwargs.get("default_args"))
        if not isinstance(cancel_on_failure, bool):
            raise ConfigurationError(
                "cancel_on_failure must be a bool, got "
                f"{type(cancel_on_failure).__name__}: {cancel_on_failure!r}"
            )
        super().__init__(*args, **kwargs)
        self.durable = durable
        self.cancel_on_failure = cancel_on_failure

    @property
    def resume_on_retry(self) -> bool:
        """Whether state is read and written: ``durable`` under Airflow's newer name."""
        return self.durable

    @resume_on_retry.setter
    def resume_on_retry(self, value: bool) -> None:
        self.durable = value

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Airflow's BaseOperatorMeta wraps __init__ with _apply_defaults, which fills
        # arguments from default_args and records the constructor kwargs. Airflow 3 skips
        # classes that inherit __init__ unchanged, and its wrapper expects the outermost
        # __init__ of an operator to be wrapped, so an operator that takes this mixin's
        # __init__ as its own gets it wrapped here, as Airflow's mixin is.
        apply_defaults = getattr(type(cls), "_apply_defaults", None)
        if callable(apply_defaults) and cls.__init__ is ResumableJobMixin.__init__:
            cls.__init__ = apply_defaults(ResumableJobMixin.__init__)  # type: ignore[method-assign]

    # -- the operator's side: what Airflow's mixin asks for ---------------------------

    @abc.abstractmethod
    def submit_job(self, context: Any) -> Any:
        """Submit the job to the external system and return its external id (JSON).

        A None return means "no id": nothing is persisted, and a retry treats the job as
        possibly submitted (it asks :meth:`find_job`).
        """

    @abc.abstractmethod
    def get_job_status(self, external_id: Any, context: Any) -> str:
        """The job's current raw status string, as the external system reports it."""

    @abc.abstractmethod
    def is_job_active(self, status: str) -> bool:
        """Whether ``status`` means the job still runs and can be reconnected to."""

    @abc.abstractmethod
    def is_job_succeeded(self, status: str) -> bool:
        """Whether ``status`` means the job finished successfully."""

    @abc.abstractmethod
    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        """Block until the job reaches a terminal status; raise if it did not succeed.

        The return value is ignored: the run's result is :meth:`get_job_result`'s.
        """

    @abc.abstractmethod
    def get_job_result(self, external_id: Any, context: Any) -> Any:
        """The job's result after it succeeded (None when there is none)."""

    # -- optional extensions, beyond Airflow's mixin ----------------------------------

    def find_job(self, token: str, context: Any) -> Any:
        """The external id of the job submitted with idempotency ``token``, or None.

        Called on a retry that finds an intent but no id: the previous try died inside
        ``submit_job``, perhaps after the external system accepted the job. Implement it
        when the external system can look jobs up by a client token or a tag; the
        default (None) makes the retry submit again with the same token.
        """
        return None

    def cancel_job(self, external_id: Any, context: Any) -> None:  # noqa: B027 (optional hook)
        """Cancel the external job (on abort, timeout or :meth:`on_kill`). Default: nothing.

        ``context`` is the context of the run; from ``on_kill`` it is the context of
        the run in progress, since Airflow passes none.
        """

    # -- what the mixin provides ------------------------------------------------------

    def idempotency_token(self, context: Any = None) -> str | None:
        """The idempotency token of the job being run.

        Inside ``submit_job`` it is the token persisted with the intent just before, the
        same on every retry until the job ends without success; pass it to external
        systems that accept client tokens. None outside a run, and for a job recorded
        by Airflow's own mixin (which has no tokens).
        """
        return self._resumable_token

    def execute_resumable(self, context: Mapping[str, Any]) -> Any:
        """Run the job crash-safely and return ``get_job_result``. Call it from ``execute``.

        See the class docstring for the decision it makes.
        """
        self._resumable_context = context
        self._resumable_cancelled_id = None
        self._resumable_current_id = None
        self._resumable_submitting = False
        result = _execute(self, context)
        # Cleared only on success: Airflow calls on_kill *after* a timeout has unwound
        # execute(), and on_kill must still know which job to cancel.
        self._resumable_current_id = None
        self._resumable_token = None
        return result

    def on_kill(self) -> None:
        """Cancel the external job of the run in progress (Airflow calls this on kill).

        While polling, that is the recorded job; inside ``submit_job``, the job
        :meth:`find_job` finds by the idempotency token, if any. The same holds right
        after ``execute_resumable`` raised, because Airflow calls ``on_kill`` once a
        timeout has unwound ``execute``. After a successful run it cancels nothing; a
        job is cancelled at most once per run. Then calls the next class's ``on_kill``
        (BaseOperator's), if any.
        """
        if self._resumable_current_id is not None:
            cancel_quietly(
                self, self._resumable_current_id, self._resumable_context, reason="on_kill"
            )
        elif self._resumable_submitting and self._resumable_token is not None:
            # Killed inside submit_job: the job may exist without a saved id yet.
            _cancel_by_token(
                self, self._resumable_token, self._resumable_context, "on_kill during submit_job"
            )
        parent = getattr(super(), "on_kill", None)
        if callable(parent):
            parent()


# Airflow's Op.partial(durable=...) checks keyword names against this attribute of each
# __init__ in the MRO; operators with their own __init__ would otherwise reject it.
ResumableJobMixin.__init__._BaseOperatorMeta__param_names = {  # type: ignore[attr-defined]
    "resume_on_retry",
    "durable",
    "cancel_on_failure",
}


def _resume_switch(resume_on_retry: Any, durable: Any, default_args: Any) -> bool:
    """The one on/off switch behind ``resume_on_retry=`` and ``durable=``.

    Unset keywords fall back to ``default_args`` (either name), then to True. Airflow
    fills keywords from ``default_args`` before they arrive here, so when the two names
    disagree, a value that only repeats ``default_args`` yields to one given explicitly.
    """
    names = ("resume_on_retry", "durable")
    defaults = default_args if isinstance(default_args, Mapping) else {}
    values = (resume_on_retry, durable)
    given = {n: v for n, v in zip(names, values, strict=True) if v is not _DURABLE_DEFAULT}
    if not given:
        given = {name: defaults[name] for name in names if name in defaults}
    elif len(set(given.values())) > 1:
        explicit = {n: v for n, v in given.items() if n not in defaults or defaults[n] is not v}
        given = explicit or given
    for name, value in given.items():
        if not isinstance(value, bool):
            raise ConfigurationError(
                f"{name} must be a bool, got {type(value).__name__}: {value!r}"
            )
    if len(set(given.values())) > 1:
        raise ConfigurationError(
            "resume_on_retry and durable are one switch under two names; got "
            f"resume_on_retry={given['resume_on_retry']!r}, durable={given['durable']!r}"
        )
    return next(iter(given.values()), True)


def _new_token() -> str:
    return str(uuid.uuid4())


def _execute(job: ResumableJobMixin, context: Mapping[str, Any]) -> Any:
    key = job.external_id_key
    operator = type(job).__name__
    if not job.durable:
        return _submit_and_finish(job, None, intent(_new_token()), context)
    store = resolve_store(context)
    if store is None:
        with obs.decision_span(operator, key) as span:
            span.set_attribute("resumable.decision", "no_task_state_store")
            obs.event(
                logging.WARNING,
                "no task_state_store in the context: crash recovery is disabled for this run",
                logger=obs.logger_of(job),
                operator=operator,
                external_id_key=key,
            )
        return _submit_and_finish(job, None, intent(_new_token()), context)
    with obs.decision_span(operator, key) as span:
        # Only a retry can find an id Airflow's own mixin left under external_id_key.
        record = read_record(store, key, check_legacy=try_number_of(context) != 1)
        action, found_id = _ask_and_decide(job, record, context, span)
        span.set_attribute("resumable.decision", action.value)
    return _carry_out(job, store, action, record, found_id, context)


def _ask_and_decide(
    job: ResumableJobMixin, record: JobRecord | None, context: Mapping[str, Any], span: Span
) -> tuple[Action, Any]:
    """Ask the external system what the decision needs; return the action and found id."""
    operator = type(job).__name__
    team = obs.team_of(context)
    question = question_for(record)
    answer = Answer.NONE
    found_id: Any = None
    fields: dict[str, Any] = {"operator": operator, "external_id_key": job.external_id_key}
    if record is not None and record.has_id:
        obs.count(obs.RECONNECT_ATTEMPT, operator, team)
        span.set_attribute("resumable.external_id", str(record.external_id))
        fields["external_id"] = record.external_id
    if record is not None and question is Question.STATUS:
        status = job.get_job_status(record.external_id, context)
        span.set_attribute("resumable.prior_status", str(status))
        fields["status"] = status
        active = bool(job.is_job_active(status))
        answer = classify_status(active, not active and bool(job.is_job_succeeded(status)))
    elif record is not None and question is Question.FIND_BY_TOKEN:
        fields["token"] = record.token
        if record.token is not None:
            found_id = job.find_job(record.token, context)
        answer = Answer.NOT_FOUND if found_id is None else Answer.FOUND
        if found_id is not None:
            fields["external_id"] = found_id
            span.set_attribute("resumable.external_id", str(found_id))
    action = decide(record, answer)
    obs.count(obs.METRIC_OF_ACTION[action], operator, team)
    level, message = _MESSAGES[action]
    obs.event(level, message, logger=obs.logger_of(job), decision=action.value, **fields)
    return action, found_id


# Levels, fields and the key phrases ("Reconnecting", "already completed", "terminal
# state") are those of Airflow's mixin, so log searches and alerts built on it still match.
_MESSAGES = {
    Action.FRESH_SUBMIT: (logging.INFO, "No job recorded; submitting a fresh job"),
    Action.RECONNECT: (logging.INFO, "Reconnecting to the recorded job, which is still active"),
    Action.ALREADY_SUCCEEDED: (
        logging.INFO,
        "Recorded job already completed successfully; not resubmitting",
    ),
    Action.TERMINAL_RESUBMIT: (
        logging.WARNING,
        "Recorded job is in a terminal state without success; submitting a fresh job",
    ),
    Action.RECOVER_BY_TOKEN: (
        logging.WARNING,
        "previous try died inside submit_job; reconnecting to the job found by its token",
    ),
    Action.RESUBMIT_WITH_SAME_TOKEN: (
        logging.WARNING,
        "previous try died inside submit_job and no job has its token; "
        "submitting with the same token",
    ),
}


def _carry_out(
    job: ResumableJobMixin,
    store: KeyValueStore,
    action: Action,
    record: JobRecord | None,
    found_id: Any,
    context: Mapping[str, Any],
) -> Any:
    key = job.external_id_key
    fence_checked = False
    if action.new_token or record is None or (action.submits and record.token is None):
        record = intent(_new_token())
        write_record(store, key, record)  # the intent: before submit_job, always
        fence_checked = True  # a fenced write: a stale attempt stops here
    job._resumable_token = record.token
    if action is Action.ALREADY_SUCCEEDED:
        if not record.succeeded:
            write_record(store, key, record.as_succeeded())
        return job.get_job_result(record.external_id, context)
    if action is Action.RECONNECT:
        return _poll_and_finish(job, store, record, context)
    if action is Action.RECOVER_BY_TOKEN:
        record = record.with_external_id(found_id)
        write_record(store, key, record, mirror_id=True)
        return _poll_and_finish(job, store, record, context)
    if not fence_checked:
        # Resubmitting with the same token after find_job (which may have been slow, or
        # this process paused in it): rewrite the intent, a fenced write, so an attempt
        # fenced off meanwhile stops before submitting instead of after.
        write_record(store, key, record)
    return _submit_and_finish(job, store, record, context)


def _submit_and_finish(
    job: ResumableJobMixin,
    store: KeyValueStore | None,
    record: JobRecord,
    context: Mapping[str, Any],
) -> Any:
    job._resumable_token = record.token
    job._resumable_submitting = True
    try:
        external_id = job.submit_job(context)
    except BaseException as exc:
        if is_cancel_trigger(exc) and record.token is not None:
            # Aborted mid-submit: the job may exist already; cancel it if it can be found.
            _cancel_by_token(job, record.token, context, f"{type(exc).__name__} in submit_job")
        raise  # still "submitting": an on_kill that follows looks the job up by token
    job._resumable_submitting = False
    if external_id is None:
        obs.event(
            logging.WARNING,
            "submit_job returned None; no external id to persist",
            logger=obs.logger_of(job),
            operator=type(job).__name__,
            external_id_key=job.external_id_key,
        )
    else:
        record = record.with_external_id(external_id)
        if store is not None:
            try:
                write_record(store, job.external_id_key, record, mirror_id=True)
            except StaleAttemptError as exc:
                # A newer attempt took over while this one was paused: the job just
                # submitted is either adopted by it or an orphan to cancel.
                findable = type(job).find_job is not ResumableJobMixin.find_job
                settle_stale_submission(job, store, record, context, exc, findable=findable)
                raise
            obs.event(
                logging.DEBUG,
                "Persisted the external id to the store",
                logger=obs.logger_of(job),
                operator=type(job).__name__,
                external_id_key=job.external_id_key,
                external_id=external_id,
            )
    return _poll_and_finish(job, store, record, context)


def _poll_and_finish(
    job: ResumableJobMixin,
    store: KeyValueStore | None,
    record: JobRecord,
    context: Mapping[str, Any],
) -> Any:
    external_id = record.external_id
    job._resumable_current_id = external_id
    try:
        job.poll_until_complete(external_id, context)
    except BaseException as exc:
        if is_cancel_trigger(exc) and external_id is not None:
            cancel_quietly(job, external_id, context, reason=type(exc).__name__)
        elif job.cancel_on_failure and external_id is not None and is_final_failure(exc, context):
            cancel_quietly(job, external_id, context, reason="final failure")
        raise
    if store is not None and external_id is not None:
        # The terminal status cache: a retry from here on never asks the external system.
        write_record(store, job.external_id_key, record.as_succeeded())
    return job.get_job_result(external_id, context)


def _cancel_by_token(
    job: ResumableJobMixin, token: str, context: Mapping[str, Any], reason: str
) -> None:
    try:
        external_id = job.find_job(token, context)
    except Exception as exc:  # the abort in flight matters more than this lookup
        obs.event(logging.ERROR, "find_job failed while cancelling", token=token, error=repr(exc))
        return
    if external_id is not None:
        cancel_quietly(job, external_id, context, reason=reason)
