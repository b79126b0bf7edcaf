"""``fill_table``: (re)fill a DataTable with explicit column widths measured from the data.

Textual's auto-width columns are computed on idle, which can leave a just-refilled table with
header-sized columns for a frame; explicit widths make every screen render the same every time
(and the snapshots deterministic). Used by the experiments, history and schedules screens.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


def fill_table(table: DataTable[object], columns: Sequence[str], rows: Sequence[Sequence[object]],
               keys: Sequence[str]) -> None:
    cursor = table.cursor_row
    table.clear(columns=True)
    for index, label in enumerate(columns):
        width = max([cell_len(label), *(_width(row[index]) for row in rows)])
        table.add_column(label, key=f"c{index}", width=width)
    for row, key in zip(rows, keys, strict=True):
        table.add_row(*row, key=key)
    if rows:
        table.move_cursor(row=min(max(cursor, 0), len(rows) - 1), scroll=False)
