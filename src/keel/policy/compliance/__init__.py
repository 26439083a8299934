"""Compliance in Rego: where a workload, its data and its model may go, and whether it may run.

Kept free of imports: the Rego worker process imports this package and nothing else of Keel.
"""
