"""The ``resumable`` command line.

User errors (bad input, unreachable servers, missing keys) exit 1 with one line on
stderr and never a traceback; that is enforced here, once, in :func:`main`.
"""

from __future__ import annotations

import sys

import click

from resumable._errors import ResumableError
from resumable.cli._app import cli


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return (and, as a script, exit with) its exit code."""
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
