"""The ``resumable`` command line.

User errors (bad input, unreachable servers, missing keys) exit 1 with one line on
stderr and never a traceback; that is enforced here, once, in :func:`main`.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from resumable._errors import ResumableError, StoreNotDurableWarning
from resumable.cli._app import cli


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
    except click.exceptions.Abort:
        click.echo("Error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        return 1
    except ResumableError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


__all__ = ["cli", "main", "run"]
