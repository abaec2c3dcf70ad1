"""``resumable providers list`` reads the ``resumable.providers`` entry point group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resumable.cli import main


def _fake_distribution(site: Path, name: str, version: str, target: str) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[resumable.providers]\n{target}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "fake_provider_mod.py").write_text(
        "PROVIDER = {'description': 'Fake jobs', 'jobs': ['fake_provider_mod.FakeJob']}\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_lists_installed_providers_with_versions(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_distribution(
        site, "resumable-provider-fake", "1.2.3", "fake = fake_provider_mod:PROVIDER"
    )
    _fake_distribution(site, "resumable-provider-broken", "0.0.1", "broken = no_such_module:X")
    assert main(["providers", "list"]) == 0
    out = capsys.readouterr().out
    assert "resumable-provider-fake" in out and "1.2.3" in out and "Fake jobs" in out
    assert "error: ModuleNotFoundError" in out  # a broken provider is listed, not fatal

    assert main(["providers", "list", "--json"]) == 0
    rows = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["fake"] == {
        "name": "fake",
        "distribution": "resumable-provider-fake",
        "version": "1.2.3",
        "description": "Fake jobs",
        "jobs": ["fake_provider_mod.FakeJob"],
        "operators": [],
        "error": None,
    }
    assert rows["broken"]["error"].startswith("ModuleNotFoundError")
