"""``resumable demo``: the checkpoint store working end to end on the embedded default."""

from __future__ import annotations

import uuid

import click
from rich.console import Console

from resumable.store import open_store


@click.command()
@click.option("--url", default=None, metavar="URL", help="Store URL (default: embedded SQLite).")
def demo(url: str | None) -> None:
    """Show resumable checkpointing work, with no server and no configuration."""
    console = Console()
    run_id = f"demo-{uuid.uuid4().hex[:8]}"
    with open_store(url) as store:
        console.print(f"store: [bold]{store.url}[/]")
        first = store.scope("resumable_demo", run_id)
        for page in range(3):
            first.set("cursor", {"page": page + 1})
        console.print("attempt 1 processed pages 1-3, then 'crashed'")
        # A new handle, as a restarted process would open: it sees the checkpoint.
        resumed = store.scope("resumable_demo", run_id).get("cursor")
        console.print(f"attempt 2 resumes from {resumed} instead of page 1")
        store.scope("resumable_demo", run_id).clear()
    console.print("[green]ok[/]")
