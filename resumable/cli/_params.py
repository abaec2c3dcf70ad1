"""Click parameter types shared by the commands."""

from __future__ import annotations

from typing import Any

import click

from resumable._errors import ConfigurationError
from resumable._time import DURATION_FORMS, parse_duration


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """A duration typed by a person (``7d``, ``12h``, ``P7D``, seconds), as float seconds.

    Parsing is :func:`resumable._time.parse_duration`'s, so every option accepts the same
    forms; bad input fails with one line naming the option.
    """

    name = "duration"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            return parse_duration(value, allow_zero=self.allow_zero)
        except ConfigurationError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()
DURATION_OR_ZERO = Duration(allow_zero=True)
DURATION_HELP = f"Durations: {DURATION_FORMS}."


class CommandFailed(click.ClickException):
    """A failure with an exit code of its own: subclasses set ``exit_code``."""


class WatchTimedOut(CommandFailed):
    """``tasks watch --timeout`` ran out before the task ended (124, as ``timeout(1)``)."""

    exit_code = 124
