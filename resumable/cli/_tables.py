"""Tables that fit the terminal: the least important columns go first, none is cut.

Rich shrinks every column of a table too wide for the terminal, which at 80 columns
leaves headers like ``pro…`` and ``sub…`` and cells nobody can read. Instead, each
column has a priority: columns are dropped, least important first, until the rest fit
at their natural width (then a dropped narrow column may come back into the room a
wide one left); the hidden ones are named under the table. Columns marked
``wrap`` (free text such as task names) may still wrap when the essentials alone are
too wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

ESSENTIAL = 0
"""Priority of a column that is never dropped."""

WRAP_WIDTH = 20
"""Width a ``wrap`` column is counted at when deciding what fits (Rich wraps it there)."""


@dataclass(frozen=True)
class Column:
    """One column: its header, how important it is (lower: kept longer), its layout."""

    header: str
    priority: int
    justify: Literal["left", "right"] = "left"
    wrap: bool = False


def _width(cell: str) -> int:
    return max((cell_len(line) for line in Text.from_markup(cell).plain.splitlines()), default=0)


def _table_width(widths: Sequence[int]) -> int:
    # Rich's default box: one space of padding each side of a cell, one rule between
    # two columns and one at each edge.
    return sum(widths) + 3 * len(widths) + 1


def fitted_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], *, width: int, title: str
) -> Table:
    """A table of ``rows`` (Rich markup cells) holding the most important ``columns``
    that fit in ``width`` cells; the names of dropped columns go in its caption."""
    natural = []
    for i, column in enumerate(columns):
        widest = max([_width(column.header), *(_width(row[i]) for row in rows)])
        if column.wrap:
            widest = min(widest, max(WRAP_WIDTH, _width(column.header)))
        natural.append(widest)
    shown = list(range(len(columns)))
    droppable = sorted(
        (i for i, column in enumerate(columns) if column.priority != ESSENTIAL),
        key=lambda i: columns[i].priority,
    )
    dropped: list[int] = []
    # Free text wraps rather than pushing whole columns out.
    while droppable and _table_width([natural[i] for i in shown]) > width:
        dropped.append(droppable.pop())
        shown.remove(dropped[-1])
    # A narrow column dropped late may fit in the room a wide one left: the most
    # important of them come back first.
    for i in reversed(dropped):
        if _table_width([natural[j] for j in shown] + [natural[i]]) <= width:
            shown = sorted([*shown, i])
    hidden = [columns[i].header for i in range(len(columns)) if i not in shown]
    caption = None
    if hidden:
        caption = f"not shown at {width} columns: {', '.join(hidden)} (--json shows everything)"
    table = Table(title=title, caption=caption)
    for i in shown:
        column = columns[i]
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.wrap,
            overflow="fold" if column.wrap else "ellipsis",
        )
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table
