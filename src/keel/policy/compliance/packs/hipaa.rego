# HIPAA (US): protected health information only with providers that sign a business associate
# agreement, modelled as a certification on the site.
#
# Parameters (data.keel.params.hipaa):
#   tags           dataset tags that mark protected health information (default ["phi"])
#   certification  the site certification that stands for a signed BAA (default "hipaa")
package keel.packs.hipaa

import rego.v1

params := data.keel.params.hipaa

health contains dataset.name if {
	some dataset in input.datasets
	some tag in params.tags
	tag in dataset.tags
}

restrict contains {
	"rule": "hipaa.baa",
	"message": concat("", [
		"protected health information (", concat(", ", sort(health)),
		") only at sites certified ", params.certification, " (HIPAA business associate)",
	]),
	"sites": {"certifications": {"has": params.certification}},
} if {
	count(health) > 0
}
