"""A solve's deadline: past it, the solver starts no new work and returns its best plan.

The fast solver works in steps (a greedy construction, a pass of the local search, a step of
the Lagrangian ascent, a window); it looks at its :class:`Deadline` between steps and gives
HiGHS only the time left. A step already started finishes, so a solve can run past its
deadline by about one step, and the first construction always runs: there is always a plan.
Without a deadline (:data:`NEVER`) the plan does not depend on the machine's speed; with one
it does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MIN_LIMIT_S = 0.1
"""The shortest time limit handed to HiGHS (it rejects zero)."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a solve should return.

    Attributes:
        at: The clock's reading at the deadline; ``None``: no deadline.
        clock: Seconds, monotonic (a test may pass its own).
    """

    at: float | None = None
    clock: Callable[[], float] = time.perf_counter

    @classmethod
    def after(
        cls, seconds: float | None, clock: Callable[[], float] = time.perf_counter
    ) -> Deadline:
        """A deadline ``seconds`` from now (``None``: none)."""
        return cls(None if seconds is None else clock() + seconds, clock)

    def passed(self) -> bool:
        """Whether the deadline has passed."""
        return self.at is not None and self.clock() >= self.at

    def share(self, part: float) -> Deadline:
        """A deadline ``part`` of the time left from now (itself when there is no deadline)."""
        if self.at is None:
            return self
        now = self.clock()
        return Deadline(now + max(0.0, self.at - now) * part, self.clock)

    def limit_s(self, limit_s: float) -> float:
        """``limit_s``, or the time left if that is shorter (at least :data:`MIN_LIMIT_S`)."""
        if self.at is None:
            return limit_s
        return max(MIN_LIMIT_S, min(limit_s, self.at - self.clock()))


NEVER = Deadline()
"""No deadline: every step runs."""
