package keel.packs.gdpr_test

import rego.v1

import data.keel.packs.gdpr

customers := {"name": "customers", "collected_in": "DE", "tags": ["personal"], "classification": "confidential"}

allowed(restriction) := {country | some country in restriction.sites.country["in"]}

test_eea_personal_data_stays_in_eea_or_adequacy if {
	some restriction in gdpr.restrict with input.datasets as [customers]
	restriction.rule == "gdpr.transfer"
	"FR" in allowed(restriction)
	"NO" in allowed(restriction)
	"CH" in allowed(restriction)
	"JP" in allowed(restriction)
	not "CN" in allowed(restriction)
	not "SG" in allowed(restriction)
}

test_adequacy_is_a_parameter if {
	some restriction in gdpr.restrict with input.datasets as [customers] with data.keel.params.gdpr.adequacy as []
	not "CH" in allowed(restriction)
	"DE" in allowed(restriction)
}

test_message_names_the_datasets if {
	some restriction in gdpr.restrict with input.datasets as [customers]
	contains(restriction.message, "customers")
}

test_data_collected_outside_the_eea_is_not_restricted if {
	count(gdpr.restrict) == 0 with input.datasets as [object.union(customers, {"collected_in": "US"})]
}

test_data_without_personal_tags_is_not_restricted if {
	count(gdpr.restrict) == 0 with input.datasets as [object.union(customers, {"tags": ["market"]})]
}

test_workload_without_datasets_is_not_restricted if {
	count(gdpr.restrict) == 0 with input.datasets as []
}
