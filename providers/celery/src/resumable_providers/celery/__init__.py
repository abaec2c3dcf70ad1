"""resumable's Celery provider: a Celery task run as an external job, crash-safely.

``resumable_providers.celery.jobs.CeleryJob`` for ``resumable.run_job`` and ``@task``
code; ``resumable_providers.celery.operators.CeleryJobOperator`` for Airflow.
"""

PROVIDER = {
    "name": "celery",
    "description": "Celery tasks as external jobs; the idempotency token is the task id",
    "jobs": ["resumable_providers.celery.jobs.CeleryJob"],
    "operators": ["resumable_providers.celery.operators.CeleryJobOperator"],
}
