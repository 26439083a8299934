"""Progress of long work, reported by the layer doing it and shown by the front end.

The services say which step they are in (``with progress.step("solving", total=n) as done``,
then ``done(k)`` as items finish); a front end decides whether and how to show it by
installing a :class:`Reporter` for the duration of a command (:func:`reporting`). Nothing is
installed by default, so a library call, a test or the API server reports to nobody, and the
services never know who watches. The CLI shows steps on a terminal and stays quiet in a pipe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol


class Reporter(Protocol):
    """What a front end implements to show progress."""

    def start(self, name: str, total: int | None) -> None:
        """A step begins; ``total`` items when known, else it has no count."""

    def advance(self, items: int) -> None:
        """``items`` more of the current step are done."""

    def finish(self) -> None:
        """The current step is over (done or failed)."""


_CURRENT: ContextVar[Reporter | None] = ContextVar("keel_progress", default=None)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send the steps of the work done inside to ``reporter``.

    Args:
        reporter: The front end's reporter.

    Yields:
        Nothing; the steps go to the reporter until the block ends.
    """
    token = _CURRENT.set(reporter)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _ignore(items: int = 1) -> None:
    """Advance nobody's step."""


@contextlib.contextmanager
def step(name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Report one step of long work while the block runs.

    Used as ``with progress.step("verifying entries", total=size) as done: ... done(k)``.

    Args:
        name: What the step does, as a user reads it ("solving 10,000 workloads").
        total: How many items it processes, when known.

    Yields:
        A function to call with how many more items are done.
    """
    reporter = _CURRENT.get()
    if reporter is None:
        yield _ignore
        return
    reporter.start(name, total)
    try:
        yield reporter.advance
    finally:
        reporter.finish()
