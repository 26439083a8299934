"""The placement engine: where every workload should run, and why.

Pure computation over an :class:`~keel.estate.Estate`: problem compilation to numpy arrays,
hard constraints with reason codes, objective terms, solvers and explanations.
"""
