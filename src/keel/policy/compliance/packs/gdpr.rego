# GDPR (EU/EEA), Chapter V: personal data collected in the EEA may leave it only for a country
# with an adequacy decision (Art. 45). Transfers under safeguards (Art. 46: standard
# contractual clauses, binding corporate rules) are decided by people, not by this pack:
# add their countries to `adequacy` when counsel approves them.
#
# Parameters (data.keel.params.gdpr):
#   adequacy       countries with an adequacy decision (ISO 3166-1 alpha-2)
#   personal_tags  dataset tags that mark personal data
package keel.packs.gdpr

import rego.v1

params := data.keel.params.gdpr

eea := data.keel.jurisdictions.EEA

personal contains dataset.name if {
	some dataset in input.datasets
	dataset.collected_in in eea
	some tag in params.personal_tags
	tag in dataset.tags
}

restrict contains {
	"rule": "gdpr.transfer",
	"message": concat("", [
		"personal data collected in the EEA (", concat(", ", sort(personal)),
		") may go only to the EEA or an adequacy country (GDPR Arts. 44-45)",
	]),
	"sites": {"country": {"in": array.concat(eea, params.adequacy)}},
} if {
	count(personal) > 0
}
