"""Policy as code: compliance in Rego, access in Cedar.

Compliance (:mod:`keel.policy.compliance`) decides where a workload, its data and its model may
go; access (:mod:`keel.policy.access`) decides who may do what.

Policies are data, not code paths: applying a new policy set changes the next decision without
a rebuild or a restart, and every decision carries the digest of the set that made it.
"""
