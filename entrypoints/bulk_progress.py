"""What ``users-service import`` shows: a progress bar while it runs (on a terminal only); at the end, the rejected
rows (the first ones) and then the summary."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from application.bulk_import import ImportReport

SHOWN_REJECTIONS: Final = 20


class _RowRateColumn(ProgressColumn):
    """Rows per second since the start (the bar itself advances by bytes of the file, for an honest ETA)."""

    def render(self, task: Task) -> Text:
        rows: int = task.fields.get("rows", 0)
        elapsed = task.elapsed
        if not elapsed or not rows:
            return Text("? rows/s", style="progress.data.speed")
        return Text(f"{rows / elapsed:,.0f} rows/s", style="progress.data.speed")


class ImportProgress:
    """A progress bar on stderr with the rows done, their rate and the time left, if stderr is a terminal.

    The bar advances by the bytes of the file read so far (its size is known up front, its number of rows
    is not), which is what makes the time left meaningful. Off a terminal it shows nothing.
    """

    def __init__(self, total_bytes: int, *, console: Console | None = None) -> None:
        self._console = console
        if console is None and sys.stderr.isatty():
            self._console = Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._total = total_bytes

    def __enter__(self) -> Self:
        if self._console is not None:
            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                _RowRateColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("importing", total=self._total, rows=0)
        return self

    def update(self, position: int, report: ImportReport) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=position, rows=report.processed)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


def summary(report: ImportReport, *, rejects_file: Path | None = None, shown: int = SHOWN_REJECTIONS) -> list[str]:
    """The closing lines: the first ``shown`` rejected rows with line and reason, then the counts (created,
    skipped as duplicates, rejected). ``rejects_file``: where every rejected row was written, if anywhere."""
    lines = [f"line {row.line}: {row.reason}" for row in report.rejected[:shown]]
    if len(report.rejected) > shown:
        more = len(report.rejected) - shown
        where = f"all in {rejects_file}" if rejects_file is not None else "--rejects FILE writes them all"
        lines.append(f"... and {more} more ({where})")
    verb = "would create" if report.dry_run else "created"
    rejected = f"rejected: {len(report.rejected)}"
    if rejects_file is not None and report.rejected:
        rejected += f", written to {rejects_file}"
    lines += [f"{verb}: {report.created}", f"skipped as duplicates: {report.duplicates}", rejected]
    if report.dry_run:
        lines.append("dry run: nothing was written")
    return lines
