"""``resumable providers list``: the provider distributions installed here."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from resumable._providers import installed_providers


@click.group()
def providers() -> None:
    """Provider distributions (resumable-provider-<name>)."""


@providers.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per provider.")
def list_providers(as_json: bool) -> None:
    """List installed providers with their versions (--json adds jobs and operators)."""
    found = installed_providers()
    if as_json:
        for provider in found:
            click.echo(json.dumps(provider.__dict__, default=list))
        return
    if not found:
        click.echo("No providers installed (pip install resumable-provider-shell, for example).")
        return
    table = Table("provider", "distribution", "version", "description")
    for provider in found:
        description = provider.description if provider.error is None else f"error: {provider.error}"
        table.add_row(provider.name, provider.distribution, provider.version, description)
    Console(width=160).print(table)
