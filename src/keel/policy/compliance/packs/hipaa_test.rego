package keel.packs.hipaa_test

import rego.v1

import data.keel.packs.hipaa

claims := {"name": "claims", "collected_in": "US", "tags": ["personal", "phi"], "classification": "confidential"}

test_phi_needs_a_hipaa_site if {
	some restriction in hipaa.restrict with input.datasets as [claims]
	restriction.rule == "hipaa.baa"
	restriction.sites.certifications.has == "hipaa"
}

test_certification_is_a_parameter if {
	some restriction in hipaa.restrict with input.datasets as [claims] with data.keel.params.hipaa.certification as "baa-signed"
	restriction.sites.certifications.has == "baa-signed"
}

test_data_without_phi_is_not_restricted if {
	count(hipaa.restrict) == 0 with input.datasets as [object.union(claims, {"tags": ["personal"]})]
}
