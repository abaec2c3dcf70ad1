"""The pruning options, spelled alike on ``resumable tasks prune`` and ``resumable worker``.

The words are the API's, ``resumable.prune_tasks(retention_period_days=90,
max_rows_per_run=10_000)``: ``--retention-period-days N`` and ``--max-rows-per-run N``,
plus ``--older-than D`` for the same cutoff typed as a duration (``30d``, ``P2W``).
Older spellings (``--retention-days``, ``--max-rows``, the worker's ``--retention``)
still work for one release and print a deprecation line on stderr.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import click

from resumable.cli._params import DURATION_HELP, DURATION_OR_ZERO

DEFAULT_RETENTION_PERIOD_DAYS = 90.0
DEFAULT_MAX_ROWS_PER_RUN = 10_000

_DAY = 86_400.0

F = TypeVar("F", bound=Callable[..., Any])

# Deprecated spelling -> (its parameter name, the new spelling), and every command
# that ever had it (the worker's duration was --retention, the prune command's --older-than).
_OLD_SPELLINGS = {
    "--retention-days": ("retention_days", "--retention-period-days"),
    "--max-rows": ("max_rows", "--max-rows-per-run"),
    "--retention": ("retention", "--older-than"),
}


@attrs.frozen
class PruneLimits:
    """What one prune run deletes: the API's two arguments."""

    retention_period_days: float
    max_rows_per_run: int


def _deprecated(old: str) -> None:
    new = _OLD_SPELLINGS[old][1]
    click.echo(
        f"Deprecated: {old} is renamed {new} (the words of resumable.prune_tasks); "
        f"the old spelling goes in the next release",
        err=True,
    )


def _limits(values: dict[str, Any]) -> PruneLimits:
    durations = {
        "--older-than": values.get("older_than"),
        "--retention": values.get("retention"),
    }
    days = {
        "--retention-period-days": values.get("retention_period_days"),
        "--retention-days": values.get("retention_days"),
    }
    cutoffs = [name for name, value in {**durations, **days}.items() if value is not None]
    if len(cutoffs) > 1:
        raise click.UsageError(f"{' and '.join(cutoffs)} set the same cutoff: give one, not both")
    period = DEFAULT_RETENTION_PERIOD_DAYS
    for value in durations.values():
        if value is not None:
            period = value / _DAY
    for value in days.values():
        if value is not None:
            period = float(value)
    rows = [values.get("max_rows_per_run"), values.get("max_rows")]
    if None not in rows:
        raise click.UsageError("give --max-rows-per-run or its old spelling --max-rows, not both")
    chosen = next((r for r in rows if r is not None), DEFAULT_MAX_ROWS_PER_RUN)
    # Only a command line that will run gets the deprecation lines (a usage error is
    # the one line on stderr).
    for old, (name, _new) in _OLD_SPELLINGS.items():
        if values.get(name) is not None:
            _deprecated(old)
    return PruneLimits(retention_period_days=period, max_rows_per_run=chosen)


def _help(when: str, text: str) -> str:
    return f"{when}{text}" if when else text[0].upper() + text[1:]


def prune_options(*, when: str = "", old: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Add the pruning options; the command receives them as ``prune: PruneLimits``.

    Args:
        when: Prefix of each help text (the worker's ``"With --prune-every: "``).
        old: The deprecated spellings this command used to have (hidden from --help).
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def with_limits(*args: Any, **kwargs: Any) -> Any:
            values = {
                name: kwargs.pop(name, None)
                for name in (
                    "older_than",
                    "retention_period_days",
                    "max_rows_per_run",
                    "retention_days",
                    "max_rows",
                    "retention",
                )
            }
            return command(*args, prune=_limits(values), **kwargs)

        options = [
            click.option(
                "--older-than",
                type=DURATION_OR_ZERO,
                default=None,
                metavar="D",
                help=_help(
                    when,
                    f"delete terminal tasks that ended longer ago than D (default 90d). "
                    f"{DURATION_HELP}",
                ),
            ),
            click.option(
                "--retention-period-days",
                type=click.FloatRange(min=0),
                default=None,
                metavar="N",
                help=_help(
                    when,
                    "the same cutoff in days, as prune_tasks(retention_period_days=) (default 90).",
                ),
            ),
            click.option(
                "--max-rows-per-run",
                type=click.IntRange(min=1),
                default=None,
                metavar="N",
                help=_help(when, "delete at most N tasks per run (default 10000)."),
            ),
        ]
        for spelling in old:
            name, new = _OLD_SPELLINGS[spelling]
            kind: Any = {
                "retention_days": click.FloatRange(min=0),
                "max_rows": click.IntRange(min=1),
                "retention": DURATION_OR_ZERO,
            }[name]
            options.append(
                click.option(
                    spelling, name, type=kind, default=None, hidden=True, help=f"Old {new}."
                )
            )
        decorated: Any = with_limits
        for option in reversed(options):
            decorated = option(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate
