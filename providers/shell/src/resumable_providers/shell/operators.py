"""``ShellJobOperator``: :class:`~resumable_providers.shell.jobs.ShellJob` as an Airflow operator.

Importing this module needs Airflow (2.10+ or 3.x). The job holds all the logic; the
operator only mixes it into Airflow's ``BaseOperator`` and calls ``execute_resumable``.
A task process SIGKILLed mid-run leaves the command running; the next try reconnects
to it (same machine) instead of starting it again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

try:  # Airflow 3: the task SDK
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2
    from airflow.models import BaseOperator

from resumable_providers.shell.jobs import ShellJob

__all__ = ["ShellJobOperator"]


class ShellJobOperator(ShellJob, BaseOperator):  # type: ignore[misc]
    """Run a command that survives the task process; retries reconnect to it.

    Args:
        command: A list (run directly) or a string (run by ``/bin/sh``); templated.
        cwd: Working directory; templated.
        env: Variables added to the worker's environment; templated.
        run_root, poll_interval, cancel_grace, tail_chars: As for ``ShellJob``.
        **kwargs: ``BaseOperator`` arguments (``task_id``, ``retries``, …) and
            ``durable``.

    Example::

        ShellJobOperator(task_id="train", command="python train.py", retries=2)
    """

    template_fields: Sequence[str] = ("command", "cwd", "env")

    def __init__(
        self,
        *,
        command: str | Sequence[str],
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        run_root: str | os.PathLike[str] | None = None,
        poll_interval: float = 1.0,
        cancel_grace: float = 10.0,
        tail_chars: int = 4000,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            command,
            cwd=cwd,
            env=env,
            run_root=run_root,
            poll_interval=poll_interval,
            cancel_grace=cancel_grace,
            tail_chars=tail_chars,
            **kwargs,
        )

    def execute(self, context: Any) -> Any:
        """Run the command crash-safely; the XCom is ``{"returncode", "output_tail"}``."""
        return self.execute_resumable(context)
