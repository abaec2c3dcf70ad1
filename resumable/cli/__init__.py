"""The ``resumable`` command line.

User errors (bad input, unreachable servers, missing keys) exit 1 with one line on
stderr and never a traceback; that is enforced here, once, in :func:`main`. Ctrl-C
exits 130 with ``interrupted``; a few commands have codes of their own
(:class:`~resumable.cli._params.CommandFailed`, e.g. ``tasks watch --timeout``: 124).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from resumable._errors import ResumableError, StoreNotDurableWarning
from resumable.cli._app import cli
from resumable.cli._params import CommandFailed


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    # resumable's own warnings are for the person at the shell: one plain line each,
    # without the source location Python adds.
    if issubclass(category, StoreNotDurableWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _default_show(message, category, *args, **kwargs)


_default_show = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return (and, as a script, exit with) its exit code."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name="resumable", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.exceptions.Abort as abort:
        # Click turns Ctrl-C (and end of input at a prompt) into Abort; only a "no" at a
        # confirmation prompt is an Abort of its own. "aborted" alone would read like a
        # task's status, so an interruption says what happened, with the shell's 130.
        if isinstance(abort.__context__, (KeyboardInterrupt, EOFError)):
            click.echo("interrupted", err=True)
            return 130
        click.echo("Error: aborted", err=True)
        return 1
    except CommandFailed as exc:
        click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
        return 1
    except ResumableError as exc:
        click.echo(f"Error: {_one_line(str(exc))}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines) if lines else "(no message)"


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


__all__ = ["cli", "main", "run"]
