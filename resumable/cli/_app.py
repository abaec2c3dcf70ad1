"""The root ``resumable`` command group; subcommands register themselves below."""

from __future__ import annotations

import click

import resumable
from resumable.cli import _api, _db, _demo, _providers, _store, _tasks, _worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(resumable.__version__, prog_name="resumable")
def cli() -> None:
    """resumable: make long-running jobs survive crashes."""


cli.add_command(_store.store)
cli.add_command(_db.db)
cli.add_command(_demo.demo)
cli.add_command(_tasks.tasks)
cli.add_command(_worker.worker)
cli.add_command(_api.api)
cli.add_command(_providers.providers)
