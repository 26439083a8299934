# China PIPL: personal information collected in mainland China stays there (Arts. 38-40),
# unless a security assessment, certification or standard contract applies; list the
# countries such an instrument covers in `allowed_countries`.
#
# Parameters (data.keel.params.pipl):
#   allowed_countries  where CN personal information may be processed (default ["CN"])
#   personal_tags      dataset tags that mark personal information
package keel.packs.pipl

import rego.v1

params := data.keel.params.pipl

personal contains dataset.name if {
	some dataset in input.datasets
	dataset.collected_in == "CN"
	some tag in params.personal_tags
	tag in dataset.tags
}

restrict contains {
	"rule": "pipl.localisation",
	"message": concat("", [
		"personal information collected in China (", concat(", ", sort(personal)),
		") stays in ", concat(", ", sort(params.allowed_countries)), " (PIPL Arts. 38-40)",
	]),
	"sites": {"country": {"in": sort(params.allowed_countries)}},
} if {
	count(personal) > 0
}
