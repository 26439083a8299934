# EU AI Act (Regulation (EU) 2024/1689): a model in the prohibited tier (Art. 5) is never
# deployed; a high-risk model (Art. 6) is deployed only with an approved risk assessment
# (Art. 9), a named human-oversight contact (Art. 14) and automatic logging on (Art. 12).
# Limited-risk systems that meet people carry a transparency warning (Art. 50).
#
# Parameters (data.keel.params.eu_ai_act):
#   deploy_kinds      workload kinds that put a model into service
#   interactive_kinds workload kinds that interact with people (transparency warning)
package keel.packs.eu_ai_act

import rego.v1

params := data.keel.params.eu_ai_act

model := input.model

deny contains {
	"rule": "eu_ai_act.prohibited",
	"message": concat("", ["model ", model.name, " is in the prohibited risk tier (EU AI Act Art. 5) and may not be used"]),
} if {
	model.risk_tier == "prohibited"
}

missing contains "an approved risk assessment (Art. 9)" if model.risk_assessment != "approved"

missing contains "a human-oversight contact (Art. 14)" if not model.oversight_contact

missing contains "automatic logging (Art. 12)" if not model.logging_enabled

deny contains {
	"rule": "eu_ai_act.high_risk",
	"message": concat("", ["high-risk model ", model.name, " may not be deployed without ", concat(", ", sort(missing))]),
} if {
	model.risk_tier == "high"
	input.workload.kind in params.deploy_kinds
	count(missing) > 0
}

warn contains {
	"rule": "eu_ai_act.transparency",
	"message": concat("", ["people must be told they are dealing with an AI system (model ", model.name, ", EU AI Act Art. 50)"]),
} if {
	model.risk_tier in {"limited", "high"}
	input.workload.kind in params.interactive_kinds
}
