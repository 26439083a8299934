"""Keel: the control plane for hybrid AI infrastructure.

Keel decides where AI workloads run across on-premises data centres, private clouds, public
clouds and edge sites, enforces the rules on data and models, and records every decision.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
