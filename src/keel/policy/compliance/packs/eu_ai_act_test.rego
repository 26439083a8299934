package keel.packs.eu_ai_act_test

import rego.v1

import data.keel.packs.eu_ai_act

governed := {
	"name": "credit-scorer",
	"risk_tier": "high",
	"risk_assessment": "approved",
	"oversight_contact": "model-risk@aurelia.example",
	"logging_enabled": true,
}



test_prohibited_model_is_denied_for_every_kind if {
	denials := {d.rule | some d in eu_ai_act.deny} with input.model as object.union(governed, {"risk_tier": "prohibited"}) with input.workload as {"name": "t", "kind": "training"}
	denials == {"eu_ai_act.prohibited"}
}

test_governed_high_risk_model_may_be_deployed if {
	count(eu_ai_act.deny) == 0 with input.model as governed with input.workload as {"name": "scoring", "kind": "online_inference"}
}

test_high_risk_without_assessment_is_denied if {
	some d in eu_ai_act.deny with input.model as object.union(governed, {"risk_assessment": "pending"}) with input.workload as {"name": "scoring", "kind": "online_inference"}
	d.rule == "eu_ai_act.high_risk"
	contains(d.message, "risk assessment")
}

test_high_risk_without_oversight_contact_is_denied if {
	some d in eu_ai_act.deny with input.model as object.remove(governed, ["oversight_contact"]) with input.workload as {"name": "scoring", "kind": "online_inference"}
	contains(d.message, "human-oversight")
}

test_high_risk_without_logging_is_denied if {
	some d in eu_ai_act.deny with input.model as object.union(governed, {"logging_enabled": false}) with input.workload as {"name": "scoring", "kind": "online_inference"}
	contains(d.message, "logging")
}

test_high_risk_training_is_not_a_deployment if {
	count(eu_ai_act.deny) == 0 with input.model as object.union(governed, {"risk_assessment": "none"}) with input.workload as {"name": "t", "kind": "training"}
}

test_minimal_risk_model_is_allowed if {
	count(eu_ai_act.deny) == 0 with input.model as {"name": "m", "risk_tier": "minimal"} with input.workload as {"name": "scoring", "kind": "online_inference"}
}

test_limited_risk_chat_carries_a_transparency_warning if {
	some w in eu_ai_act.warn with input.model as {"name": "m", "risk_tier": "limited"} with input.workload as {"name": "scoring", "kind": "online_inference"}
	w.rule == "eu_ai_act.transparency"
}
