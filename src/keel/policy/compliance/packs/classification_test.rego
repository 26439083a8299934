package keel.packs.classification_test

import rego.v1

import data.keel.packs.classification

dataset(level) := {"name": concat("-", [level, "data"]), "classification": level, "tags": []}


test_restricted_only_on_premises if {
	restrictions := {r.rule: r.sites | some r in classification.restrict} with input.datasets as [dataset("restricted")]
	restrictions["classification.restricted"] == {"kind": {"in": ["on_prem"]}}
}

test_confidential_not_on_public_cloud_unless_confidential_computing if {
	restrictions := {r.rule: r.sites | some r in classification.restrict} with input.datasets as [dataset("confidential")]
	restrictions["classification.confidential"] == {"any": [
		{"kind": {"not_in": ["public_cloud"]}},
		{"confidential_computing": {"equals": true}},
	]}
	not restrictions["classification.restricted"]
}

test_without_the_exemption_public_cloud_is_closed if {
	restrictions := {r.rule: r.sites | some r in classification.restrict} with input.datasets as [dataset("confidential")] with data.keel.params.classification.confidential_computing_exempts as false
	restrictions["classification.confidential"] == {"kind": {"not_in": ["public_cloud"]}}
}

test_restricted_site_kinds_is_a_parameter if {
	restrictions := {r.rule: r.sites | some r in classification.restrict} with input.datasets as [dataset("restricted")] with data.keel.params.classification.restricted_site_kinds as ["on_prem", "private_cloud"]
	restrictions["classification.restricted"] == {"kind": {"in": ["on_prem", "private_cloud"]}}
}

test_internal_and_public_data_are_not_restricted if {
	count(classification.restrict) == 0 with input.datasets as [dataset("internal"), dataset("public")]
}
