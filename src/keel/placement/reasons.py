"""Why a workload cannot run on an option: stable reason codes, combinable as bit flags."""

from __future__ import annotations

import enum
import functools


class Reason(enum.IntFlag):
    """Hard-constraint violations. The names are the stable codes used in explanations.

    Bit 2 is retired: certifications for tagged data (``hipaa``, ``pci-dss``) are regulation,
    enforced by the compliance packs (``policy``), no longer built in.
    """

    CLASSIFICATION = 1
    """An input is classified above the site's ``max_classification``."""
    RESIDENCY = 4
    """An input may not leave jurisdictions the site is outside of."""
    ACCELERATOR = 8
    """The pool's accelerator is not among the workload's options."""
    MEMORY = 16
    """The model does not fit in the devices' memory (weights; optimizer state for training)."""
    CAPACITY = 32
    """The pool has fewer devices than one replica needs (or none left in the plan)."""
    LATENCY = 64
    """Round trip from a served user region plus service time exceeds the SLO."""
    SITE_DOWN = 128
    """The site is marked unavailable."""
    POLICY = 256
    """A compliance policy denies the placement."""


def reason_codes(mask: int) -> list[str]:
    """The codes set in a bitmask, in a stable order.

    Args:
        mask: An integer of :class:`Reason` bits.

    Returns:
        Lowercase codes such as ``["residency", "latency"]`` (a new list on every call).
    """
    return list(_codes(mask))


@functools.cache
def _codes(mask: int) -> tuple[str, ...]:
    return tuple(r.name.lower() for r in Reason if r.name is not None and mask & r)
