"""Progress on a terminal: the steps of long work, shown on stderr, never in a pipe.

A step that ends within :data:`QUIET_S` shows nothing, so quick commands do not flicker. A longer
one shows a spinner (and a bar when it has a count) while it runs, and leaves one line with its
time when it ends. ``KEEL_PROGRESS=0`` turns it off; a pipe or a file never gets it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, Task, TaskID
    from rich.text import Text

QUIET_S = 0.5
"""A step shorter than this shows nothing (``KEEL_PROGRESS_QUIET_S`` sets another)."""


def quiet_s() -> float:
    """How long a step runs before it is shown: ``KEEL_PROGRESS_QUIET_S`` or :data:`QUIET_S`."""
    try:
        return max(0.0, float(os.environ.get("KEEL_PROGRESS_QUIET_S", QUIET_S)))
    except ValueError:
        return QUIET_S


def wanted() -> bool:
    """Whether to show progress: stderr is a terminal and ``KEEL_PROGRESS`` is not ``0``."""
    return sys.stderr.isatty() and os.environ.get("KEEL_PROGRESS", "1") != "0"


class TerminalProgress:
    """A :class:`keel.progress.Reporter` drawing with Rich on stderr."""

    def __init__(self, console: Console | None = None, quiet_s: float = QUIET_S) -> None:
        """Draw on ``console`` (stderr by default); steps shorter than ``quiet_s`` stay silent."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._console = console or Console(stderr=True)
        self._quiet_s = quiet_s
        self._bar: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            _count_column(),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._steps: list[tuple[str, float, TaskID]] = []
        self._shown = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start(self, name: str, total: int | None) -> None:
        """Add the step; show the display if work is still running after the quiet time."""
        task = self._bar.add_task(name, total=total)
        self._steps.append((name, time.monotonic(), task))
        if not self._shown and self._timer is None:
            self._timer = threading.Timer(self._quiet_s, self._show)
            self._timer.daemon = True
            self._timer.start()

    def advance(self, items: int) -> None:
        """Advance the innermost step."""
        if self._steps:
            self._bar.advance(self._steps[-1][2], items)

    def finish(self) -> None:
        """End the innermost step; a step that was shown leaves a line with its time."""
        name, began, task = self._steps.pop()
        self._bar.remove_task(task)
        elapsed_s = time.monotonic() - began
        with self._lock:
            if self._shown and elapsed_s >= self._quiet_s:
                self._console.print(f"[dim]{name}: {elapsed_s:.1f} s[/dim]", highlight=False)
            if not self._steps:
                self._hide()

    def _show(self) -> None:
        with self._lock:
            self._timer = None
            if self._steps and not self._shown:
                self._bar.start()
                self._shown = True

    def _hide(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._shown:
            self._bar.stop()
            self._shown = False


def _count_column() -> Any:
    """Items done of the total, with thousands separators; nothing for a step with no count."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Count(ProgressColumn):
        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text("")
            return Text(f"{int(task.completed):,}/{int(task.total):,}", style="progress.download")

    return Count()
