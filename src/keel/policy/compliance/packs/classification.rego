# Data classification: `restricted` data only on premises; `confidential` data not on public
# cloud unless the site runs confidential computing.
#
# Parameters (data.keel.params.classification):
#   restricted_site_kinds            site kinds allowed for restricted data (default ["on_prem"])
#   confidential_denied_site_kinds   site kinds closed to confidential data (default ["public_cloud"])
#   confidential_computing_exempts   a confidential-computing site is open anyway (default true)
package keel.packs.classification

import rego.v1

params := data.keel.params.classification

holding(level) := {dataset.name |
	some dataset in input.datasets
	dataset.classification == level
}

restrict contains {
	"rule": "classification.restricted",
	"message": concat("", [
		"restricted data (", concat(", ", sort(holding("restricted"))), ") only at ",
		concat(" or ", sort(params.restricted_site_kinds)), " sites",
	]),
	"sites": {"kind": {"in": sort(params.restricted_site_kinds)}},
} if {
	count(holding("restricted")) > 0
}

# Restricted data is at least as sensitive as confidential data.
sensitive := holding("confidential") | holding("restricted")

confidential_sites := {"any": [
	{"kind": {"not_in": sort(params.confidential_denied_site_kinds)}},
	{"confidential_computing": {"equals": true}},
]} if {
	params.confidential_computing_exempts
} else := {"kind": {"not_in": sort(params.confidential_denied_site_kinds)}}

restrict contains {
	"rule": "classification.confidential",
	"message": concat("", [
		"confidential data (", concat(", ", sort(sensitive)), ") not at ",
		concat(" or ", sort(params.confidential_denied_site_kinds)), " sites", exemption,
	]),
	"sites": confidential_sites,
} if {
	count(sensitive) > 0
	count(params.confidential_denied_site_kinds) > 0
}

exemption := " unless they run confidential computing" if params.confidential_computing_exempts
else := ""
