"""Access in Cedar: who may do what to which resource.

Default deny; a ``forbid`` overrides any ``permit``. The baseline (``baseline.cedar``) ships
roles viewer, operator, approver and admin, separation of duties and guards for agents;
custom policies are added through ``PolicySet`` manifests.
"""
