package keel.packs.pipl_test

import rego.v1

import data.keel.packs.pipl

cn_customers := {"name": "cn-customers", "collected_in": "CN", "tags": ["personal"], "classification": "confidential"}

test_cn_personal_information_stays_in_cn if {
	some restriction in pipl.restrict with input.datasets as [cn_customers]
	restriction.rule == "pipl.localisation"
	restriction.sites.country["in"] == ["CN"]
}

test_allowed_countries_is_a_parameter if {
	some restriction in pipl.restrict with input.datasets as [cn_customers] with data.keel.params.pipl.allowed_countries as ["CN", "HK"]
	restriction.sites.country["in"] == ["CN", "HK"]
}

test_data_collected_elsewhere_is_not_restricted if {
	count(pipl.restrict) == 0 with input.datasets as [object.union(cn_customers, {"collected_in": "SG"})]
}

test_non_personal_cn_data_is_not_restricted if {
	count(pipl.restrict) == 0 with input.datasets as [object.union(cn_customers, {"tags": []})]
}
