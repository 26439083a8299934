# PCI DSS: cardholder data only in PCI DSS-compliant environments.
#
# Parameters (data.keel.params.pci_dss):
#   tags           dataset tags that mark cardholder data (default ["pci"])
#   certification  the site certification for a compliant environment (default "pci-dss")
package keel.packs.pci_dss

import rego.v1

params := data.keel.params.pci_dss

cardholder contains dataset.name if {
	some dataset in input.datasets
	some tag in params.tags
	tag in dataset.tags
}

restrict contains {
	"rule": "pci_dss.environment",
	"message": concat("", [
		"cardholder data (", concat(", ", sort(cardholder)), ") only at sites certified ",
		params.certification, " (PCI DSS)",
	]),
	"sites": {"certifications": {"has": params.certification}},
} if {
	count(cardholder) > 0
}
