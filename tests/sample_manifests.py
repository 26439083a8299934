"""Manifest snippets shared by tests (line numbers in assertions depend on this layout)."""

SITE = """\
kind: Site
name: fra-dc1
spec:
  kind: on_prem
  country: DE
  location: {latitude: 50.11, longitude: 8.68}
  max_classification: restricted
  pools:
    - {name: h100, accelerator: H100-SXM, count: 8, usd_per_hour: 2.1}
"""
