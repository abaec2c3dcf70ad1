"""The docs name only commands and options that exist, in their current spelling.

Every ``resumable …`` command line in docs/*.md and the README (in code blocks and in
inline code) is resolved against the real command tree: each subcommand must exist and
each ``--option`` must be one the command shows in ``--help``. A deprecated spelling
(hidden from ``--help``, still accepted) fails here, so the docs cannot teach it.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from resumable.cli._app import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
_INLINE = re.compile(r"`(resumable [^`]+)`")
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _command_lines(text: str) -> list[str]:
    lines: list[str] = []
    in_code = False
    pending = ""
    for raw in text.splitlines():
        if raw.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            line = pending + raw.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            if line.startswith("resumable "):
                lines.append(line)
        else:
            lines.extend(_INLINE.findall(raw))
    return lines


def _examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for line in _command_lines(page.read_text()):
            found.append((page.name, line.split("  #", 1)[0].split(" # ", 1)[0]))
    return found


EXAMPLES = _examples()


def _visible_options(command: click.Command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            names.update(n for n in (*param.opts, *param.secondary_opts) if n.startswith("--"))
    return names


@pytest.mark.parametrize(("page", "line"), EXAMPLES, ids=[f"{p}:{line}" for p, line in EXAMPLES])
def test_documented_command_lines_exist(page: str, line: str) -> None:
    words = line.split()[1:]
    command: click.Command = cli
    path = ["resumable"]
    for word in words:
        if not isinstance(command, click.Group) or word.startswith("-"):
            break
        sub = command.commands.get(word)
        if sub is None:
            break  # an argument (a namespace, a uuid, a placeholder)
        command, path = sub, [*path, word]
    known = _visible_options(command)
    for option in _OPTION.findall(line):
        assert option in known, f"{page}: `{line}`: {' '.join(path)} has no {option}"


def test_there_are_command_lines_to_check() -> None:
    assert len(EXAMPLES) > 30
