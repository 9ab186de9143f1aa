"""A progress bar for long commands (prune-expired), drawn by rich on stderr only when it is a terminal.

When stderr is a pipe or a file (cron, CI, systemd) nothing is drawn and no count is run for a total:
the command's final summary line is all its output, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from sanctum_py.core.pruning import ProgressCallback


class CountsColumn(ProgressColumn):
    """`scanned/total scanned, deleted deleted`."""

    def render(self, task: Task) -> Text:
        deleted = int(task.fields.get("deleted", 0))
        return Text(f"{int(task.completed):,}/{int(task.total or 0):,} scanned, {deleted:,} deleted")


class RateColumn(ProgressColumn):
    """Rows scanned per second since the start. (rich's own speed estimate needs two updates, and a
    prune of one batch gives it only one.)"""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        if not elapsed or not task.completed:
            return Text("")
        return Text(f"{task.completed / elapsed:,.0f} rows/s")


def stderr_console() -> Console:
    return Console(stderr=True)


@contextmanager
def prune_progress(console: Console, total: int) -> Iterator[ProgressCallback]:
    """A callback for prune_expired that moves a bar of `total` rows: scanned, deleted, rate, time."""
    progress = Progress(
        TextColumn("[bold]pruning[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        CountsColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task = progress.add_task("prune", total=total, deleted=0)

    def advance(scanned: int, deleted: int) -> None:
        # More rows may expire while pruning than were counted at the start: the bar grows with them.
        progress.update(task, completed=scanned, deleted=deleted, total=max(total, scanned))

    with progress:
        yield advance
