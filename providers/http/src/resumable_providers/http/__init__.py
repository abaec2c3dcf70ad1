"""resumable's HTTP provider: the common REST job pattern (submit, poll, result, cancel).

``resumable_providers.http.jobs.HttpJob`` for ``resumable.run_job`` and ``@task`` code;
``resumable_providers.http.operators.HttpJobOperator`` for Airflow.
"""

PROVIDER = {
    "name": "http",
    "description": "REST job APIs: submit with an Idempotency-Key, poll, fetch the result",
    "jobs": ["resumable_providers.http.jobs.HttpJob"],
    "operators": ["resumable_providers.http.operators.HttpJobOperator"],
}
