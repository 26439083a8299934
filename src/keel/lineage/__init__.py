"""Lineage: OpenLineage events in and out, and the graph of datasets, jobs, models, workloads."""
