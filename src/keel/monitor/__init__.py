"""Monitors: drift between a reference and a current window, model performance, serving SLOs.

The reference is kept as a compact sketch (:mod:`keel.monitor.sketch`), so a check on a new
window reads only the window, in chunks, with memory bounded by the chunk size.
"""
