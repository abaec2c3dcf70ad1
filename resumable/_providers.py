"""What providers are installed: the ``resumable.providers`` entry point group.

Each provider distribution (``resumable-provider-<name>``) registers one entry point
in that group, named after the provider, pointing at a dict (``PROVIDER``) with a
``description`` and the dotted names of its ``jobs`` and ``operators``. Loading it
imports only the provider's light ``__init__`` (no Airflow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points

GROUP = "resumable.providers"


@dataclass(frozen=True)
class ProviderInfo:
    """One installed provider.

    Attributes:
        name: The entry point's name (``shell``).
        distribution: The distribution that registered it (``resumable-provider-shell``).
        version: That distribution's version.
        description: What it offers, or why it could not be loaded.
        jobs: Dotted names of its job classes.
        operators: Dotted names of its Airflow operators.
        error: Why loading the entry point failed (None when it loaded).
    """

    name: str
    distribution: str
    version: str
    description: str = ""
    jobs: tuple[str, ...] = field(default=())
    operators: tuple[str, ...] = field(default=())
    error: str | None = None


def installed_providers() -> list[ProviderInfo]:
    """Every provider registered in the ``resumable.providers`` group, sorted by name.

    A provider whose entry point fails to load is still listed, with ``error`` set.
    """
    found = []
    for point in entry_points(group=GROUP):
        dist = point.dist
        distribution = dist.metadata["Name"] if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        try:
            info = point.load()
        except Exception as exc:  # a broken provider must not hide the others
            found.append(
                ProviderInfo(
                    point.name, distribution, version, error=f"{type(exc).__name__}: {exc}"
                )
            )
            continue
        info = info if isinstance(info, dict) else {}
        found.append(
            ProviderInfo(
                point.name,
                distribution,
                version,
                str(info.get("description", "")),
                tuple(info.get("jobs", ())),
                tuple(info.get("operators", ())),
            )
        )
    return sorted(found, key=lambda provider: provider.name)
