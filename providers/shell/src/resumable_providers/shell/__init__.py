"""resumable's shell provider: commands that survive the crash of whatever started them.

``resumable_providers.shell.jobs.ShellJob`` for ``resumable.run_job`` and ``@task`` code;
``resumable_providers.shell.operators.ShellJobOperator`` for Airflow. This module stays
import-light: the detached supervisor is loaded from this package by path.
"""

PROVIDER = {
    "name": "shell",
    "description": "Commands run as detached process groups that outlive their caller",
    "jobs": ["resumable_providers.shell.jobs.ShellJob"],
    "operators": ["resumable_providers.shell.operators.ShellJobOperator"],
}
