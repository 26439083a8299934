package keel.packs.pci_dss_test

import rego.v1

import data.keel.packs.pci_dss

cards := {"name": "cards", "collected_in": "DE", "tags": ["personal", "pci"], "classification": "restricted"}

test_cardholder_data_needs_a_pci_site if {
	some restriction in pci_dss.restrict with input.datasets as [cards]
	restriction.rule == "pci_dss.environment"
	restriction.sites.certifications.has == "pci-dss"
	contains(restriction.message, "cards")
}

test_data_without_pci_tag_is_not_restricted if {
	count(pci_dss.restrict) == 0 with input.datasets as [object.union(cards, {"tags": ["personal"]})]
}
